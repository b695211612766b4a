//! The trust check's Unix side: owner, group and mode of each entry of a path's chain, read
//! with `lstat`; user and group names for messages.

use super::{judge_unix, Allowed, Finding, Role, UnixEntry};
use std::ffi::CStr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// True when the check applies: pacs-warden runs as root.
pub fn is_privileged() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn me() -> u32 {
    // SAFETY: as above.
    unsafe { libc::geteuid() }
}

pub(super) fn check_chain(path: &Path, _role: Role, allowed: &Allowed) -> Vec<Finding> {
    let path = match std::path::absolute(path) {
        Ok(p) => p,
        Err(e) => return vec![unreadable(path, &e)],
    };
    let mut out = judge_or_error(&path, allowed);
    // Through a symbolic link somewhere in the path, what is really read is its target: check
    // that chain too. For a path that does not exist yet, the real place of its nearest
    // existing folder, with the missing part after it.
    let existing = path
        .ancestors()
        .find(|a| std::fs::symlink_metadata(a).is_ok())
        .unwrap_or(Path::new("/"));
    let real = std::fs::canonicalize(existing)
        .ok()
        .map(|r| match path.strip_prefix(existing) {
            Ok(rest) if !rest.as_os_str().is_empty() => r.join(rest),
            _ => r,
        });
    if let Some(real) = real {
        if real != path {
            for f in judge_or_error(&real, allowed) {
                if !out.iter().any(|o| o.path == f.path) {
                    out.push(f);
                }
            }
        }
    }
    out
}

fn judge_or_error(path: &Path, allowed: &Allowed) -> Vec<Finding> {
    let mut chain = Vec::new();
    // A path that does not exist yet (a state directory before its first run) is checked from
    // the nearest folder that exists: that is where it will be created.
    let mut existing = false;
    let exists = std::fs::symlink_metadata(path).is_ok();
    for p in path.ancestors() {
        match std::fs::symlink_metadata(p) {
            Ok(md) => {
                existing = true;
                chain.push(UnixEntry {
                    path: p.to_path_buf(),
                    uid: md.uid(),
                    gid: md.gid(),
                    mode: md.mode() & 0o7777,
                    is_dir: md.is_dir(),
                    is_symlink: md.file_type().is_symlink(),
                    owner_name: user_name(md.uid()),
                    group_name: group_name(md.gid()),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !existing => continue,
            Err(e) => return vec![unreadable(p, &e)],
        }
    }
    judge_unix(&chain, exists, me(), allowed)
}

fn unreadable(p: &Path, e: &std::io::Error) -> Finding {
    Finding {
        path: p.to_path_buf(),
        problem: format!("cannot be checked: {e}"),
        fix: "make it readable by the user pacs-warden runs as".into(),
    }
}

fn user_name(uid: u32) -> String {
    let mut buf = vec![0u8; 4096];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the buffer outlives the use of `pwd`.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc == 0 && !result.is_null() {
        // SAFETY: getpwuid_r filled `pw_name` with a NUL-terminated string inside `buf`.
        return unsafe { CStr::from_ptr(pwd.pw_name) }
            .to_string_lossy()
            .into_owned();
    }
    uid.to_string()
}

fn group_name(gid: u32) -> String {
    let mut buf = vec![0u8; 4096];
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as in `user_name`.
    let rc = unsafe {
        libc::getgrgid_r(
            gid,
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc == 0 && !result.is_null() {
        // SAFETY: as in `user_name`.
        return unsafe { CStr::from_ptr(grp.gr_name) }
            .to_string_lossy()
            .into_owned();
    }
    gid.to_string()
}

/// Creates `dir` and the folders above it that are missing, each readable and writable only by
/// pacs-warden's user (mode 0700); an existing folder is left as it is.
pub fn safe_create_dir_all(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // It may have been there already, made by someone else (or be a link to elsewhere).
    let md = std::fs::symlink_metadata(dir)?;
    if md.file_type().is_symlink() || !md.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} is not a folder (a symbolic link?); remove it",
                dir.display()
            ),
        ));
    }
    if md.uid() != me() && md.uid() != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} belongs to user `{}`; it must be pacs-warden's own (chown root)",
                dir.display(),
                user_name(md.uid())
            ),
        ));
    }
    Ok(dir.to_path_buf())
}

pub(super) fn open_no_follow(
    path: &Path,
    options: &mut std::fs::OpenOptions,
) -> std::io::Result<std::fs::File> {
    options.custom_flags(libc::O_NOFOLLOW).open(path)
}

/// `open` with O_NOFOLLOW fails with ELOOP on a symbolic link.
pub(super) fn is_link_error(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}
