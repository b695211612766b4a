"""A minimal Celery app for pacs-warden's end-to-end test and benchmark.

Broker and result backend: the redis at E2E_BROKER_URL (redis://127.0.0.1:PORT/0), which the
test starts itself. Run from this directory so that `celery -A e2e_app` imports it.
"""

import os
import time

from celery import Celery

BROKER = os.environ["E2E_BROKER_URL"]

app = Celery("e2e_app", broker=BROKER, backend=BROKER)
app.conf.update(
    task_default_queue="default",
    broker_connection_retry_on_startup=True,
)


@app.task
def add(x, y):
    return x + y


@app.task
def slow(seconds, started=None):
    """Sleeps `seconds`; first creates the file `started` (if given), so a test can see that
    the task is running."""
    if started:
        with open(started, "w") as f:
            f.write("started\n")
    time.sleep(seconds)
    return seconds
