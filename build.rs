//! Two jobs, by target.
//!
//! Linux: links the binaries as position-dependent executables (`-no-pie`), unless the
//! environment variable `PACS_WARDEN_PIE` is set at build time.
//!
//! Why: chrono-tz compiles every time zone into tables of pointers (about 1 MB). In a PIE those
//! pages are relocated at start-up, so each one is copied and stays resident: the idle daemon
//! uses 5.0 MB instead of 3.3 MB. A non-PIE binary is relocated at link time. The price is that
//! the executable's own code is not placed at a random address (ASLR still applies to the heap,
//! the stack and the shared libraries). pacs-warden reads no network input — only its schedule
//! file, which an administrator writes — so the default favours the small daemon; packagers
//! whose policy requires PIE build with `PACS_WARDEN_PIE=1`.
//!
//! Windows (GNU toolchain): links a message table into pacs-warden.exe, the Event Log
//! source's message file: the message `%1` (the event's text as is) for every ID of
//! src/sys/os/eventlog_ids.rs. The table is written here; `windres` (mingw's `ARCH-w64-mingw32-windres`,
//! else `windres`, or `$WINDRES`)
//! makes it an object file. Without `windres` (or for MSVC) the build goes on without the
//! table, with a cargo warning: events are written all the same, and Event Viewer shows their
//! text after a "description cannot be found" note.

use std::path::Path;
use std::process::Command;

include!("src/sys/os/eventlog_ids.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/sys/os/eventlog_ids.rs");
    println!("cargo:rerun-if-env-changed=PACS_WARDEN_PIE");
    println!("cargo:rerun-if-env-changed=WINDRES");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" && std::env::var_os("PACS_WARDEN_PIE").is_none() {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    if os == "windows" {
        if let Err(why) = message_table() {
            println!(
                "cargo:warning=pacs-warden.exe is built without its Event Log message table: {why}"
            );
        }
    }
}

/// The binary form of a message table (MESSAGE_RESOURCE_DATA): one block per ID, each with
/// one entry, the UTF-16 text `%1` (FormatMessage's first insert), NUL-terminated.
fn table() -> Vec<u8> {
    let mut ids: Vec<u32> = EVENT_IDS.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    let text: Vec<u8> = "%1\0"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .chain([0, 0]) // to a multiple of 4 bytes
        .collect();
    let entry_len = 4 + text.len();
    let mut out = Vec::new();
    out.extend((ids.len() as u32).to_le_bytes());
    let first_entry = 4 + 12 * ids.len();
    for (i, id) in ids.iter().enumerate() {
        out.extend(id.to_le_bytes()); // LowId
        out.extend(id.to_le_bytes()); // HighId
        out.extend(((first_entry + i * entry_len) as u32).to_le_bytes());
    }
    for _ in &ids {
        out.extend((entry_len as u16).to_le_bytes());
        out.extend(1u16.to_le_bytes()); // MESSAGE_RESOURCE_UNICODE
        out.extend(&text);
    }
    out
}

fn message_table() -> Result<(), String> {
    if std::env::var("CARGO_CFG_TARGET_ENV").as_deref() != Ok("gnu") {
        return Err("only the GNU toolchain's windres is supported".into());
    }
    let out = std::env::var("OUT_DIR").map_err(|e| e.to_string())?;
    let out = Path::new(&out);
    let bin = out.join("messages.bin");
    std::fs::write(&bin, table()).map_err(|e| format!("{}: {e}", bin.display()))?;
    let rc = out.join("messages.rc");
    // windres reads C string syntax: forward slashes need no escaping on any host.
    let bin_name = bin.to_string_lossy().replace('\\', "/");
    // Language neutral: FormatMessage (Event Viewer) finds it whatever the system language.
    std::fs::write(
        &rc,
        format!("LANGUAGE 0, 0\n1 MESSAGETABLE \"{bin_name}\"\n"),
    )
    .map_err(|e| format!("{}: {e}", rc.display()))?;
    let windres = std::env::var("WINDRES").unwrap_or_else(|_| {
        match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
            Ok("x86") => "i686-w64-mingw32-windres".into(),
            Ok(arch) => format!("{arch}-w64-mingw32-windres"),
            Err(_) => "windres".into(),
        }
    });
    let obj = out.join("messages.o");
    let run = |program: &str| {
        Command::new(program)
            .arg("--input")
            .arg(&rc)
            .arg("--output")
            .arg(&obj)
            .arg("--output-format=coff")
            .status()
    };
    // A native MinGW (MSYS2) has it as plain `windres`.
    let status = run(&windres)
        .or_else(|e| {
            if std::env::var_os("WINDRES").is_none() {
                run("windres")
            } else {
                Err(e)
            }
        })
        .map_err(|e| format!("cannot run {windres} (install mingw-w64, or set WINDRES): {e}"))?;
    if !status.success() {
        return Err(format!("{windres} failed ({status})"));
    }
    println!("cargo:rustc-link-arg-bins={}", obj.display());
    Ok(())
}
