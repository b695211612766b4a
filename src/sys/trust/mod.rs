//! The trust check: may anyone but the administrators change what a privileged pacs-warden
//! runs?
//!
//! Owns: the rules that decide whether a file or folder is safe for a daemon running as root
//! (Unix) or as an administrator / LocalSystem (Windows) to take commands from, and the
//! findings they produce (path, who may write it, the command that fixes it). The rules are
//! pure functions over plain descriptions of the file system (`UnixEntry`, `Descriptor`), so
//! they are tested on constructed examples; reading the real owner, mode or ACL is the OS's
//! part (`unix.rs`, `windows.rs`). Knows nothing of schedules: the caller names the paths
//! (the schedule file, the state directory, the programs its commands name by path).
//!
//! Why: cron refuses a crontab that others can write and OpenSSH's `StrictModes` refuses an
//! `authorized_keys` in a folder that others can write, for the same reason: whoever can
//! change the file runs commands with the rights of the one who reads it.

#[cfg(unix)]
#[path = "unix.rs"]
mod imp;
#[cfg(windows)]
#[path = "windows.rs"]
mod imp;

use std::fmt;
use std::path::{Path, PathBuf};

#[cfg(windows)]
pub use imp::{apply_sddl, under_wine, RESTRICTED_SDDL};
pub use imp::{is_privileged, safe_create_dir_all};

/// One path that someone other than the administrators (or the daemon's own account) can
/// change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: PathBuf,
    /// Who may change it and how: "writable by group `staff` (mode 0664)".
    pub problem: String,
    /// The command that fixes it, ready to paste.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}; fix: {}",
            crate::core::text::escape(&self.path.display().to_string()),
            crate::core::text::escape(&self.problem),
            crate::core::text::escape(&self.fix)
        )
    }
}

/// What a path is used for, so a finding can say why it matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The schedule file: its commands run with the daemon's rights.
    Schedule,
    /// The state directory: locks, the recorded worker identity, query logs.
    StateDir,
    /// The program file a command runs.
    Program,
    /// A log file pacs-warden opens (appends to, rotates), or the metrics file it replaces.
    Log,
}

/// The principals that may write, besides the built-in administrators: names given with
/// `--allow-writable-by` (a user or group name on Unix; an account name or SID on Windows).
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    pub names: Vec<String>,
}

impl Allowed {
    fn allows(&self, names: &[&str]) -> bool {
        self.names.iter().any(|a| {
            names
                .iter()
                .any(|n| !n.is_empty() && a.eq_ignore_ascii_case(n))
        })
    }
}

/// Opens `path` with `options` without following a symbolic link (or, on Windows, a reparse
/// point) in its last component: a link planted in place of a state or log file is refused
/// with a message naming it, not followed to whatever file it points at.
pub fn open_no_follow(
    path: &Path,
    options: &mut std::fs::OpenOptions,
) -> std::io::Result<std::fs::File> {
    imp::open_no_follow(path, options).map_err(|e| {
        if imp::is_link_error(&e) || std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{} is a symbolic link; refusing to follow it (someone may have planted it there: remove it)",
                    crate::core::text::escape(&path.display().to_string())
                ),
            )
        } else {
            e
        }
    })
}

/// Reads `path` without following a symbolic link in its last component (see
/// `open_no_follow`).
pub fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    open_no_follow(path, std::fs::OpenOptions::new().read(true))?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Writes `bytes` to `path` by creating a new file beside it and renaming it over `path`: a
/// reader never sees half a file, and a link planted at either name is replaced, never
/// followed.
pub fn write_replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link; refusing to replace it (someone may have planted it there: remove it)",
                crate::core::text::escape(&path.display().to_string())
            ),
        ));
    }
    // A leftover of a crashed earlier process with the same PID (or a planted link): remove
    // the name itself, then create it exclusively (which never follows a link).
    let _ = std::fs::remove_file(&tmp);
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
    }
    std::fs::rename(&tmp, path)
}

/// Checks `path` and every folder above it. A path that does not exist yet is checked from
/// its nearest existing ancestor (which is where it will be created). Errors reading the file
/// system are findings too: what cannot be checked is not trusted.
pub fn check_path(path: &Path, role: Role, allowed: &Allowed) -> Vec<Finding> {
    let mut out = imp::check_chain(path, role, allowed);
    if role == Role::StateDir {
        out.extend(links_inside(path));
    }
    out
}

/// Symbolic links (Windows: reparse points) among the state directory's entries: pacs-warden
/// never makes one there, so one is planted, and it is reported before anything runs.
fn links_inside(dir: &Path) -> Vec<Finding> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_symlink()) {
            let path = entry.path();
            // A name that would need escaping is not pasted into a command.
            let plain = matches!(
                crate::core::text::escape(&path.display().to_string()),
                std::borrow::Cow::Borrowed(_)
            );
            out.push(Finding {
                fix: match (cfg!(windows), plain) {
                    (true, true) => format!("del \"{}\"", path.display()),
                    (true, false) => format!(
                        "delete the links that `dir /AL \"{}\"` lists",
                        dir.display()
                    ),
                    (false, true) => format!("rm {}", shell_quote(&path)),
                    (false, false) => format!(
                        "find {} -maxdepth 1 -type l -delete",
                        shell_quote(dir)
                    ),
                },
                problem: "is a symbolic link in the state directory, which pacs-warden never makes there (planted?); it is not followed".into(),
                path,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Checks every path; one finding per offending path, in order, without repeats (the schedule
/// file and its state directory share their folders).
pub fn check_all(paths: &[(PathBuf, Role)], allowed: &Allowed) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for (path, role) in paths {
        for f in check_path(path, *role, allowed) {
            if !out.iter().any(|o| o.path == f.path) {
                out.push(f);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Unix rule

/// One entry of a path's chain as `lstat` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixEntry {
    pub path: PathBuf,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits including setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub is_dir: bool,
    pub is_symlink: bool,
    pub owner_name: String,
    pub group_name: String,
}

/// The Unix rule over a chain, the checked path first, then its parent, up to `/`.
///
/// Every entry must be owned by root or by `me` (the daemon's user) and must not be writable by
/// group or others. A sticky world-writable folder such as `/tmp` is a safe *ancestor*: others
/// can neither rename nor delete an entry they do not own there, and the entry itself is
/// checked. It is not safe as the checked path itself (others could create files in it).
/// A symbolic link's own mode means nothing; its owner is checked, and the path it points to
/// is checked as a chain of its own by the caller.
///
/// `exists` says whether `chain[0]` is the checked path itself; when the path does not exist
/// yet, the chain starts at the folder it will be created in, which is then an ancestor.
pub fn judge_unix(chain: &[UnixEntry], exists: bool, me: u32, allowed: &Allowed) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, e) in chain.iter().enumerate() {
        let shown = shell_quote(&e.path);
        let trusted_owner = e.uid == 0 || e.uid == me || allowed.allows(&[&e.owner_name]);
        if !trusted_owner {
            out.push(Finding {
                path: e.path.clone(),
                problem: format!("owned by user `{}`, who may change it", e.owner_name),
                fix: format!("chown root {shown}"),
            });
            continue;
        }
        if e.is_symlink {
            continue;
        }
        let sticky_ancestor = (i > 0 || !exists) && e.is_dir && e.mode & 0o1000 != 0;
        if sticky_ancestor {
            continue;
        }
        let group_w = e.mode & 0o020 != 0 && e.gid != 0 && !allowed.allows(&[&e.group_name]);
        let other_w = e.mode & 0o002 != 0;
        let what = if e.is_dir { "folder" } else { "file" };
        let problem = match (group_w, other_w) {
            (_, true) => format!(
                "{what} writable by every user (mode {:04o})",
                e.mode & 0o7777
            ),
            (true, false) => format!(
                "{what} writable by group `{}` (mode {:04o})",
                e.group_name,
                e.mode & 0o7777
            ),
            (false, false) => continue,
        };
        out.push(Finding {
            path: e.path.clone(),
            problem,
            fix: format!("chmod go-w {shown}"),
        });
    }
    out
}

/// A path quoted for a POSIX shell when it needs it.
fn shell_quote(p: &Path) -> String {
    let s = p.display().to_string();
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@".contains(&b))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

// ---------------------------------------------------------------------------------------------
// Windows rule

/// Well-known SIDs the Windows rule trusts.
pub const SID_SYSTEM: &str = "S-1-5-18";
pub const SID_ADMINISTRATORS: &str = "S-1-5-32-544";
pub const SID_TRUSTED_INSTALLER: &str =
    "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";
/// CREATOR OWNER: only meaningful in inheritable entries.
pub const SID_CREATOR_OWNER: &str = "S-1-3-0";
/// OWNER RIGHTS: stands for the current owner.
pub const SID_OWNER_RIGHTS: &str = "S-1-3-4";

/// Access rights (winnt.h).
pub mod access {
    pub const FILE_WRITE_DATA: u32 = 0x0002; // = FILE_ADD_FILE on a folder
    pub const FILE_APPEND_DATA: u32 = 0x0004; // = FILE_ADD_SUBDIRECTORY on a folder
    pub const FILE_DELETE_CHILD: u32 = 0x0040;
    pub const DELETE: u32 = 0x0001_0000;
    pub const WRITE_DAC: u32 = 0x0004_0000;
    pub const WRITE_OWNER: u32 = 0x0008_0000;
    pub const GENERIC_ALL: u32 = 0x1000_0000;
    pub const GENERIC_WRITE: u32 = 0x4000_0000;
    /// Rights that change the checked file or folder itself, or let a new entry be created in
    /// the folder that holds the schedule or is the state directory.
    pub const CHANGE: u32 = FILE_WRITE_DATA
        | FILE_APPEND_DATA
        | FILE_DELETE_CHILD
        | DELETE
        | WRITE_DAC
        | WRITE_OWNER
        | GENERIC_ALL
        | GENERIC_WRITE;
    /// Rights on a folder higher up that let someone replace what is below it: delete or
    /// rename entries (delete-child, or delete/rename of the folder itself), or take the
    /// folder over (change its ACL or owner). Creating new entries there is harmless:
    /// `C:\ProgramData` lets every user create folders.
    pub const REPLACE: u32 = FILE_DELETE_CHILD | DELETE | WRITE_DAC | WRITE_OWNER | GENERIC_ALL;
}

/// One access-control entry, as far as the rule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    pub allow: bool,
    /// The SID as text, `S-1-5-…`.
    pub sid: String,
    /// The account's name, for messages (`BUILTIN\Users`), or the SID when it has none.
    pub name: String,
    pub mask: u32,
    /// Applies only to entries created below, not to this one.
    pub inherit_only: bool,
}

/// A file's or folder's owner and DACL. `dacl: None` is a NULL DACL: everyone may do
/// everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub path: PathBuf,
    pub owner_sid: String,
    pub owner_name: String,
    pub dacl: Option<Vec<Ace>>,
    pub is_dir: bool,
}

/// The Windows rule over a chain, the checked path first, then each folder above it.
///
/// The checked path and, when it is a file, the folder holding it may grant write, delete or
/// ownership change only to SYSTEM, Administrators, TrustedInstaller, the daemon's own account
/// (`me`, a SID) and their owner if the owner is one of those; folders higher up may not let
/// anyone else delete, rename or take over what is below them. A NULL DACL is writable by
/// everyone. Deny entries are not subtracted (a finding errs on the side of caution).
pub fn judge_windows(chain: &[Descriptor], me: &str, allowed: &Allowed) -> Vec<Finding> {
    let trusted = |sid: &str, name: &str| {
        [SID_SYSTEM, SID_ADMINISTRATORS, SID_TRUSTED_INSTALLER, me]
            .iter()
            .any(|t| !t.is_empty() && t.eq_ignore_ascii_case(sid))
            || allowed.allows(&[sid, name, name.rsplit('\\').next().unwrap_or(name)])
    };
    let mut out = Vec::new();
    for (i, d) in chain.iter().enumerate() {
        let owner_trusted = trusted(&d.owner_sid, &d.owner_name);
        // The file itself, and the folder that holds the schedule (or is the state folder):
        // nobody else may add entries there either.
        let close = i == 0 || (i == 1 && !chain[0].is_dir);
        let mask = if close {
            access::CHANGE
        } else {
            access::REPLACE
        };
        let quoted = format!("\"{}\"", d.path.display());
        let mut who: Vec<String> = Vec::new();
        if !owner_trusted {
            who.push(format!("its owner `{}`", d.owner_name));
        }
        match &d.dacl {
            None => who.push("everyone (it has no access control list)".into()),
            Some(aces) => {
                for ace in aces {
                    if !ace.allow || ace.inherit_only || ace.mask & mask == 0 {
                        continue;
                    }
                    let is_trusted = if ace.sid.eq_ignore_ascii_case(SID_OWNER_RIGHTS)
                        || ace.sid.eq_ignore_ascii_case(SID_CREATOR_OWNER)
                    {
                        owner_trusted
                    } else {
                        trusted(&ace.sid, &ace.name)
                    };
                    let label = format!("`{}`", ace.name);
                    if !is_trusted && !who.contains(&label) {
                        who.push(label);
                    }
                }
            }
        }
        if who.is_empty() {
            continue;
        }
        let what = if d.is_dir { "folder" } else { "file" };
        let verb = if close {
            "may be changed by"
        } else {
            "lets entries below it be deleted or replaced by"
        };
        let fix = if d.is_dir {
            format!(
                "icacls {quoted} /inheritance:r /grant:r \"*{SID_SYSTEM}:(OI)(CI)F\" \"*{SID_ADMINISTRATORS}:(OI)(CI)F\" /setowner \"*{SID_ADMINISTRATORS}\" (then grant others read: /grant \"*S-1-5-32-545:(OI)(CI)RX\")"
            )
        } else {
            format!(
                "icacls {quoted} /inheritance:r /grant:r \"*{SID_SYSTEM}:F\" \"*{SID_ADMINISTRATORS}:F\" \"*S-1-5-32-545:RX\" /setowner \"*{SID_ADMINISTRATORS}\""
            )
        };
        out.push(Finding {
            path: d.path.clone(),
            problem: format!("{what} {verb} {}", who.join(", ")),
            fix,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, uid: u32, gid: u32, mode: u32, is_dir: bool) -> UnixEntry {
        UnixEntry {
            path: path.into(),
            uid,
            gid,
            mode,
            is_dir,
            is_symlink: false,
            owner_name: if uid == 0 {
                "root".into()
            } else {
                format!("u{uid}")
            },
            group_name: if gid == 0 {
                "root".into()
            } else {
                format!("g{gid}")
            },
        }
    }

    fn root_chain(file_mode: u32) -> Vec<UnixEntry> {
        vec![
            entry("/etc/pacs-warden/openrem.yaml", 0, 0, file_mode, false),
            entry("/etc/pacs-warden", 0, 0, 0o755, true),
            entry("/etc", 0, 0, 0o755, true),
            entry("/", 0, 0, 0o755, true),
        ]
    }

    #[test]
    fn unix_root_owned_and_not_writable_is_trusted() {
        assert!(judge_unix(&root_chain(0o644), true, 0, &Allowed::default()).is_empty());
        // Group root may write: only root is in it.
        assert!(judge_unix(&root_chain(0o664), true, 0, &Allowed::default()).is_empty());
    }

    #[test]
    fn unix_writable_by_group_or_everyone_is_a_finding_with_chmod() {
        let mut chain = root_chain(0o664);
        chain[0].gid = 50;
        chain[0].group_name = "staff".into();
        let f = judge_unix(&chain, true, 0, &Allowed::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].path, Path::new("/etc/pacs-warden/openrem.yaml"));
        assert!(f[0].problem.contains("group `staff`"), "{}", f[0].problem);
        assert!(f[0].problem.contains("0664"), "{}", f[0].problem);
        assert_eq!(f[0].fix, "chmod go-w /etc/pacs-warden/openrem.yaml");

        let f = judge_unix(&root_chain(0o646), true, 0, &Allowed::default());
        assert!(f[0].problem.contains("every user"), "{}", f[0].problem);

        // --allow-writable-by the group lifts it; not the world-writable case.
        let allowed = Allowed {
            names: vec!["staff".into()],
        };
        assert!(judge_unix(&chain, true, 0, &allowed).is_empty());
        assert_eq!(judge_unix(&root_chain(0o646), true, 0, &allowed).len(), 1);
    }

    #[test]
    fn unix_owner_must_be_root_or_the_daemon_user() {
        let mut chain = root_chain(0o644);
        chain[0].uid = 65534;
        chain[0].owner_name = "nobody".into();
        let f = judge_unix(&chain, true, 0, &Allowed::default());
        assert_eq!(f.len(), 1);
        assert!(f[0].problem.contains("`nobody`"));
        assert_eq!(f[0].fix, "chown root /etc/pacs-warden/openrem.yaml");
        // The daemon's own user is trusted.
        assert!(judge_unix(&chain, true, 65534, &Allowed::default()).is_empty());
    }

    #[test]
    fn unix_writable_parent_folder_is_a_finding() {
        let mut chain = root_chain(0o644);
        chain[1].mode = 0o777;
        let f = judge_unix(&chain, true, 0, &Allowed::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].path, Path::new("/etc/pacs-warden"));
        assert!(f[0].problem.starts_with("folder"), "{}", f[0].problem);
    }

    #[test]
    fn unix_sticky_folder_is_safe_above_an_entry_owned_by_root_only() {
        let chain = vec![
            entry("/tmp/s.yaml", 0, 0, 0o644, false),
            entry("/tmp", 0, 0, 0o1777, true),
            entry("/", 0, 0, 0o755, true),
        ];
        assert!(judge_unix(&chain, true, 0, &Allowed::default()).is_empty());
        let mut other = chain.clone();
        other[0].uid = 1000;
        other[0].owner_name = "alice".into();
        let f = judge_unix(&other, true, 0, &Allowed::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].path, Path::new("/tmp/s.yaml"));
        // A sticky folder as the checked path itself (a state directory) is not safe.
        let dir = vec![
            entry("/tmp/state", 0, 0, 0o1777, true),
            entry("/tmp", 0, 0, 0o1777, true),
            entry("/", 0, 0, 0o755, true),
        ];
        let f = judge_unix(&dir, true, 0, &Allowed::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].path, Path::new("/tmp/state"));
        // One that does not exist yet will be created (privately) in /tmp: fine.
        assert!(judge_unix(&dir[1..], false, 0, &Allowed::default()).is_empty());
    }

    #[test]
    fn unix_paths_with_spaces_are_quoted_in_the_fix() {
        let mut chain = root_chain(0o666);
        chain[0].path = "/srv/open rem/it's.yaml".into();
        let f = judge_unix(&chain, true, 0, &Allowed::default());
        assert_eq!(f[0].fix, r"chmod go-w '/srv/open rem/it'\''s.yaml'");
    }

    #[cfg(unix)]
    #[test]
    fn links_planted_in_place_of_state_files_are_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("w.lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = open_no_follow(&link, std::fs::OpenOptions::new().create(true).append(true))
            .unwrap_err();
        assert!(
            e.to_string().contains("is a symbolic link; refusing"),
            "{e}"
        );
        let e = read_no_follow(&link).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = write_replace(&link, b"x").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        // A plain file is written and replaced.
        let plain = dir.path().join("state.json");
        write_replace(&plain, b"one").unwrap();
        write_replace(&plain, b"two").unwrap();
        assert_eq!(read_no_follow(&plain).unwrap(), b"two");
        let f = links_inside(dir.path());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].path, link);
    }

    fn ace(sid: &str, name: &str, mask: u32) -> Ace {
        Ace {
            allow: true,
            sid: sid.into(),
            name: name.into(),
            mask,
            inherit_only: false,
        }
    }

    fn desc(path: &str, owner: (&str, &str), aces: Option<Vec<Ace>>, is_dir: bool) -> Descriptor {
        Descriptor {
            path: path.into(),
            owner_sid: owner.0.into(),
            owner_name: owner.1.into(),
            dacl: aces,
            is_dir,
        }
    }

    const USERS: (&str, &str) = ("S-1-5-32-545", r"BUILTIN\Users");
    const ADMINS: (&str, &str) = (SID_ADMINISTRATORS, r"BUILTIN\Administrators");
    const SYSTEM: (&str, &str) = (SID_SYSTEM, r"NT AUTHORITY\SYSTEM");
    const ALICE: (&str, &str) = ("S-1-5-21-1-2-3-1001", r"HOSP\alice");
    const FULL: u32 = 0x001F_01FF;
    const READ_EXECUTE: u32 = 0x0012_00A9;
    const ADD_SUBDIR: u32 = access::FILE_APPEND_DATA;

    /// `C:\ProgramData` as Windows ships it: users may create folders there.
    fn program_data() -> Descriptor {
        desc(
            r"C:\ProgramData",
            SYSTEM,
            Some(vec![
                ace(SYSTEM.0, SYSTEM.1, FULL),
                ace(ADMINS.0, ADMINS.1, FULL),
                ace(USERS.0, USERS.1, READ_EXECUTE),
                ace(USERS.0, USERS.1, ADD_SUBDIR | access::FILE_WRITE_DATA),
                Ace {
                    inherit_only: true,
                    ..ace(SID_CREATOR_OWNER, r"CREATOR OWNER", FULL)
                },
            ]),
            true,
        )
    }

    fn tight(path: &str, is_dir: bool) -> Descriptor {
        desc(
            path,
            ADMINS,
            Some(vec![
                ace(SYSTEM.0, SYSTEM.1, FULL),
                ace(ADMINS.0, ADMINS.1, FULL),
                ace(USERS.0, USERS.1, READ_EXECUTE),
            ]),
            is_dir,
        )
    }

    fn c_drive() -> Descriptor {
        desc(
            r"C:\",
            (SID_TRUSTED_INSTALLER, r"NT SERVICE\TrustedInstaller"),
            Some(vec![
                ace(SYSTEM.0, SYSTEM.1, FULL),
                ace(ADMINS.0, ADMINS.1, FULL),
                ace(USERS.0, USERS.1, READ_EXECUTE),
                // Authenticated Users may create folders at the root.
                ace("S-1-5-11", r"NT AUTHORITY\Authenticated Users", ADD_SUBDIR),
            ]),
            true,
        )
    }

    #[test]
    fn windows_tightened_folder_in_program_data_is_trusted() {
        let chain = vec![
            tight(r"C:\ProgramData\pacs-warden\openrem.yaml", false),
            tight(r"C:\ProgramData\pacs-warden", true),
            program_data(),
            c_drive(),
        ];
        let f = judge_windows(&chain, SID_SYSTEM, &Allowed::default());
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn windows_folder_created_by_a_user_is_a_finding_with_icacls() {
        // alice made C:\ProgramData\pacs-warden first: she owns it and CREATOR OWNER's
        // inherited entry gave her full control.
        let mine = desc(
            r"C:\ProgramData\pacs-warden",
            ALICE,
            Some(vec![
                ace(SYSTEM.0, SYSTEM.1, FULL),
                ace(ADMINS.0, ADMINS.1, FULL),
                ace(ALICE.0, ALICE.1, FULL),
                ace(USERS.0, USERS.1, READ_EXECUTE),
            ]),
            true,
        );
        let chain = vec![
            tight(r"C:\ProgramData\pacs-warden\openrem.yaml", false),
            mine,
            program_data(),
            c_drive(),
        ];
        let f = judge_windows(&chain, SID_SYSTEM, &Allowed::default());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].path, Path::new(r"C:\ProgramData\pacs-warden"));
        assert!(f[0].problem.contains(r"`HOSP\alice`"), "{}", f[0].problem);
        assert!(f[0]
            .fix
            .starts_with(r#"icacls "C:\ProgramData\pacs-warden" /inheritance:r"#));
        // Allowing her account by name lifts it.
        let allowed = Allowed {
            names: vec!["alice".into()],
        };
        assert!(judge_windows(&chain, SID_SYSTEM, &allowed).is_empty());
    }

    #[test]
    fn windows_file_writable_by_users_and_null_dacl_are_findings() {
        let mut file = tight(r"D:\open rem\s.yaml", false);
        file.dacl
            .as_mut()
            .unwrap()
            .push(ace(USERS.0, USERS.1, access::GENERIC_WRITE));
        let chain = vec![file, tight(r"D:\open rem", true), c_drive()];
        let f = judge_windows(&chain, SID_SYSTEM, &Allowed::default());
        assert_eq!(f.len(), 1);
        assert!(f[0].problem.contains(r"`BUILTIN\Users`"));
        assert!(f[0].fix.contains(r#""D:\open rem\s.yaml""#), "{}", f[0].fix);

        let chain = vec![desc(r"D:\s.yaml", ADMINS, None, false), tight(r"D:\", true)];
        let f = judge_windows(&chain, SID_SYSTEM, &Allowed::default());
        assert_eq!(f.len(), 1);
        assert!(f[0].problem.contains("everyone"), "{}", f[0].problem);
    }

    #[test]
    fn windows_adding_files_to_the_schedules_own_folder_is_a_finding_but_not_higher_up() {
        let mut folder = tight(r"C:\ProgramData\pacs-warden", true);
        folder
            .dacl
            .as_mut()
            .unwrap()
            .push(ace(USERS.0, USERS.1, access::FILE_WRITE_DATA));
        let chain = vec![
            tight(r"C:\ProgramData\pacs-warden\s.yaml", false),
            folder,
            program_data(),
        ];
        let f = judge_windows(&chain, SID_SYSTEM, &Allowed::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].path, Path::new(r"C:\ProgramData\pacs-warden"));
        // Delete-child on a folder higher up is a finding.
        let mut pd = program_data();
        pd.dacl
            .as_mut()
            .unwrap()
            .push(ace(USERS.0, USERS.1, access::FILE_DELETE_CHILD));
        let chain = vec![
            tight(r"C:\ProgramData\pacs-warden\s.yaml", false),
            tight(r"C:\ProgramData\pacs-warden", true),
            pd,
        ];
        let f = judge_windows(&chain, SID_SYSTEM, &Allowed::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].path, Path::new(r"C:\ProgramData"));
    }

    #[test]
    fn windows_inherit_only_and_deny_entries_grant_nothing_here() {
        let mut file = tight(r"C:\x\s.yaml", false);
        file.dacl.as_mut().unwrap().push(Ace {
            inherit_only: true,
            ..ace(USERS.0, USERS.1, FULL)
        });
        file.dacl.as_mut().unwrap().push(Ace {
            allow: false,
            ..ace(USERS.0, USERS.1, FULL)
        });
        let f = judge_windows(&[file], SID_SYSTEM, &Allowed::default());
        assert!(f.is_empty(), "{f:?}");
    }
}
