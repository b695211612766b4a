# /etc/cron.d/openrem: OpenREM PACS queries, installed by the dose team.
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin
CRON_TZ=America/New_York

# m    h     dom   mon dow  user     command
*/30   8-17  *     *   1-5  openrem  /opt/openrem/venv/bin/python /opt/openrem/venv/bin/openrem_qr.py 2 1 -dx
0      22    1,15  *   *    openrem  /opt/openrem/venv/bin/openrem_qr.py 3 1 -ct -mg
45     5     *     *   sat  openrem  cd /opt/openrem && venv/bin/openrem_qr.py 2 1 -fl -e 'phantom, QA'
5      3     *     *   *    root     test -x /usr/sbin/anacron || run-parts --report /etc/cron.daily
