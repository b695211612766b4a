//! The trust check's Windows side: owner and DACL of each entry of a path's chain, read with
//! `GetNamedSecurityInfoW`; SIDs as text and account names for messages.

use super::{judge_windows, Ace, Allowed, Descriptor, Finding, Role};
use std::os::windows::ffi::OsStrExt;
use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, ERROR_SUCCESS, HANDLE};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
    GetNamedSecurityInfoW, SetNamedSecurityInfoW, SDDL_REVISION_1, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    AclSizeInformation, CheckTokenMembership, CreateWellKnownSid, GetAce, GetAclInformation,
    GetSecurityDescriptorDacl, GetSecurityDescriptorOwner, GetTokenInformation, LookupAccountSidW,
    TokenUser, WinBuiltinAdministratorsSid, ACCESS_ALLOWED_ACE, ACL, ACL_SIZE_INFORMATION,
    DACL_SECURITY_INFORMATION, INHERIT_ONLY_ACE, OWNER_SECURITY_INFORMATION,
    PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, SECURITY_MAX_SID_SIZE,
    SID_NAME_USE, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
const ACCESS_DENIED_ACE_TYPE: u8 = 1;

/// True when the check applies: pacs-warden runs with the Administrators group enabled in its
/// token (an elevated administrator, or LocalSystem).
pub fn is_privileged() -> bool {
    let mut sid = [0u8; SECURITY_MAX_SID_SIZE as usize];
    let mut size = sid.len() as u32;
    // SAFETY: `sid` is a buffer of `size` bytes.
    let ok = unsafe {
        CreateWellKnownSid(
            WinBuiltinAdministratorsSid,
            std::ptr::null_mut(),
            sid.as_mut_ptr().cast(),
            &mut size,
        )
    };
    if ok == 0 {
        return false;
    }
    let mut member = 0;
    // SAFETY: a null token means the calling thread's; `sid` was filled above.
    let ok =
        unsafe { CheckTokenMembership(std::ptr::null_mut(), sid.as_mut_ptr().cast(), &mut member) };
    ok != 0 && member != 0
}

/// The SID of the account pacs-warden runs as, as text.
fn me() -> String {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo handle of the current process; `token` receives a handle we close.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return String::new();
    }
    let mut buf = vec![0u8; 256];
    let mut len = 0u32;
    // SAFETY: `buf` holds `buf.len()` bytes; TOKEN_USER is written at its start.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buf.as_mut_ptr().cast(),
            buf.len() as u32,
            &mut len,
        )
    };
    // SAFETY: `token` is open.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return String::new();
    }
    // SAFETY: the call succeeded, so `buf` starts with a TOKEN_USER (read unaligned: a Vec<u8>
    // is only byte-aligned).
    let user: TOKEN_USER = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast()) };
    sid_string(user.User.Sid)
}

fn wide(p: &Path) -> Vec<u16> {
    p.as_os_str().encode_wide().chain(Some(0)).collect()
}

fn sid_string(sid: PSID) -> String {
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` is a valid SID; the string is freed with LocalFree below.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 || text.is_null() {
        return String::new();
    }
    // SAFETY: a NUL-terminated wide string from the call above.
    let s = unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        String::from_utf16_lossy(std::slice::from_raw_parts(text, len))
    };
    // SAFETY: allocated by ConvertSidToStringSidW with LocalAlloc.
    unsafe { LocalFree(text.cast()) };
    s
}

/// `DOMAIN\name`, or the SID when the account has no name.
fn account_name(sid: PSID) -> String {
    let mut name = [0u16; 256];
    let mut domain = [0u16; 256];
    let (mut n, mut d) = (name.len() as u32, domain.len() as u32);
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: both buffers hold the lengths given.
    let ok = unsafe {
        LookupAccountSidW(
            std::ptr::null(),
            sid,
            name.as_mut_ptr(),
            &mut n,
            domain.as_mut_ptr(),
            &mut d,
            &mut kind,
        )
    };
    if ok == 0 {
        return sid_string(sid);
    }
    let name = String::from_utf16_lossy(&name[..n as usize]);
    let domain = String::from_utf16_lossy(&domain[..d as usize]);
    if domain.is_empty() {
        name
    } else {
        format!("{domain}\\{name}")
    }
}

fn describe(path: &Path) -> std::io::Result<Descriptor> {
    let w = wide(path);
    let mut owner: PSID = std::ptr::null_mut();
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `w` is NUL-terminated; the out pointers point into `sd`, freed below.
    let rc = unsafe {
        GetNamedSecurityInfoW(
            w.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut sd,
        )
    };
    if rc != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(rc as i32));
    }
    let result = (|| {
        let owner_sid = if owner.is_null() {
            String::new()
        } else {
            sid_string(owner)
        };
        let owner_name = if owner.is_null() {
            "(none)".to_string()
        } else {
            account_name(owner)
        };
        let aces = if dacl.is_null() {
            None
        } else {
            let mut info = ACL_SIZE_INFORMATION {
                AceCount: 0,
                AclBytesInUse: 0,
                AclBytesFree: 0,
            };
            // SAFETY: `dacl` points into `sd`; `info` is the size the class needs.
            let ok = unsafe {
                GetAclInformation(
                    dacl,
                    (&mut info as *mut ACL_SIZE_INFORMATION).cast(),
                    std::mem::size_of::<ACL_SIZE_INFORMATION>() as u32,
                    AclSizeInformation,
                )
            };
            if ok == 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut aces = Vec::new();
            for i in 0..info.AceCount {
                let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
                // SAFETY: `i` is below the ACE count.
                if unsafe { GetAce(dacl, i, &mut ace) } == 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let ace = ace as *const ACCESS_ALLOWED_ACE;
                // SAFETY: every ACE starts with an ACE_HEADER; allowed and denied ACEs have
                // the layout of ACCESS_ALLOWED_ACE, the SID starting at `SidStart`.
                let (kind, flags, mask) =
                    unsafe { ((*ace).Header.AceType, (*ace).Header.AceFlags, (*ace).Mask) };
                if kind != ACCESS_ALLOWED_ACE_TYPE && kind != ACCESS_DENIED_ACE_TYPE {
                    // Object and callback ACEs: not used on files.
                    continue;
                }
                // SAFETY: as above.
                let sid: PSID = unsafe { std::ptr::addr_of!((*ace).SidStart) } as PSID;
                aces.push(Ace {
                    allow: kind == ACCESS_ALLOWED_ACE_TYPE,
                    sid: sid_string(sid),
                    name: account_name(sid),
                    mask,
                    inherit_only: u32::from(flags) & INHERIT_ONLY_ACE != 0,
                });
            }
            Some(aces)
        };
        Ok(Descriptor {
            path: path.to_path_buf(),
            owner_sid,
            owner_name,
            dacl: aces,
            is_dir: path.is_dir(),
        })
    })();
    // SAFETY: allocated by GetNamedSecurityInfoW.
    unsafe { LocalFree(sd) };
    result
}

pub(super) fn check_chain(path: &Path, _role: Role, allowed: &Allowed) -> Vec<Finding> {
    let path = match std::path::absolute(path) {
        Ok(p) => p,
        Err(e) => return vec![unreadable(path, &e)],
    };
    let mut chain = Vec::new();
    let mut existing = false;
    for p in path.ancestors() {
        if !existing && std::fs::symlink_metadata(p).is_err() {
            continue;
        }
        existing = true;
        match describe(p) {
            Ok(d) => chain.push(d),
            Err(e) => return vec![unreadable(p, &e)],
        }
    }
    let mut findings = judge_windows(&chain, &me(), allowed);
    if under_wine() {
        // Wine makes up the descriptors of its Z: drive (the Unix file system) from Unix
        // modes, and a sticky folder such as /tmp comes out as "Everyone may delete
        // entries": the sticky bit that makes it safe is invisible here. Wine enforces Unix
        // permissions, not ACLs, so under Wine the folders above the checked path's own are
        // not judged (README, Security: what Wine enforces).
        let close = if chain.first().is_some_and(|d| !d.is_dir) {
            2
        } else {
            1
        };
        let kept: Vec<PathBuf> = chain.iter().take(close).map(|d| d.path.clone()).collect();
        findings.retain(|f| kept.contains(&f.path));
    }
    findings
}

/// Whether this process runs under Wine: Wine's ntdll exports `wine_get_version`.
pub fn under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll: Vec<u16> = "ntdll.dll".encode_utf16().chain(Some(0)).collect();
    // SAFETY: a NUL-terminated module name and symbol name; nothing is called through the
    // returned pointer.
    unsafe {
        let module = GetModuleHandleW(ntdll.as_ptr());
        !module.is_null() && GetProcAddress(module, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

fn unreadable(p: &Path, e: &std::io::Error) -> Finding {
    Finding {
        path: p.to_path_buf(),
        problem: format!("cannot be checked: {e}"),
        fix: "make its permissions readable by the account pacs-warden runs as".into(),
    }
}

/// Creates `dir` and the folders above it that are missing. The folder itself gets an ACL
/// that grants full control to SYSTEM and Administrators only and read to Users, inheritance
/// from above removed (`icacls`, which every Windows has).
pub fn safe_create_dir_all(dir: &Path) -> std::io::Result<PathBuf> {
    let existed = dir.is_dir();
    std::fs::create_dir_all(dir)?;
    if !existed {
        apply_sddl(dir, RESTRICTED_SDDL)?;
    }
    Ok(dir.to_path_buf())
}

/// The ACL of a folder pacs-warden creates: full control for SYSTEM and Administrators, read
/// and execute for Users, inherited by everything inside, nothing inherited from above;
/// owned by Administrators.
pub const RESTRICTED_SDDL: &str = "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)";

/// Gives `dir` the owner (where allowed) and the protected DACL written in `sddl`, e.g.
/// `RESTRICTED_SDDL`.
pub fn apply_sddl(dir: &Path, sddl: &str) -> std::io::Result<()> {
    let sddl: Vec<u16> = sddl.encode_utf16().chain(Some(0)).collect();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `sddl` is NUL-terminated; `sd` is freed with LocalFree below.
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut sd,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let result = (|| {
        let (mut present, mut defaulted) = (0, 0);
        let mut dacl: *mut ACL = std::ptr::null_mut();
        let mut owner: PSID = std::ptr::null_mut();
        // `O:` is optional in `sddl`: no owner, no owner change.
        // SAFETY: `sd` is a valid descriptor; the pointers point into it.
        unsafe {
            if GetSecurityDescriptorDacl(sd, &mut present, &mut dacl, &mut defaulted) == 0
                || GetSecurityDescriptorOwner(sd, &mut owner, &mut defaulted) == 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        let w = wide(dir);
        // SAFETY: `w` is NUL-terminated; `dacl` points into `sd`.
        let rc = unsafe {
            SetNamedSecurityInfoW(
                w.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                dacl,
                std::ptr::null(),
            )
        };
        if rc != ERROR_SUCCESS {
            return Err(std::io::Error::from_raw_os_error(rc as i32));
        }
        // The owner: allowed for an administrator; where it is not (an unprivileged run), the
        // DACL above is what protects the folder.
        if owner.is_null() {
            return Ok(());
        }
        // SAFETY: as above.
        let _ = unsafe {
            SetNamedSecurityInfoW(
                w.as_ptr(),
                SE_FILE_OBJECT,
                OWNER_SECURITY_INFORMATION,
                owner,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        Ok(())
    })();
    // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
    unsafe { LocalFree(sd) };
    result
}

/// FILE_FLAG_OPEN_REPARSE_POINT: open a symbolic link or junction itself, not its target.
const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x0400;

pub(super) fn open_no_follow(
    path: &Path,
    options: &mut std::fs::OpenOptions,
) -> std::io::Result<std::fs::File> {
    let file = options
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    if file.metadata()?.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return Err(std::io::Error::from_raw_os_error(LINK_REFUSED));
    }
    Ok(file)
}

/// ERROR_CANT_ACCESS_FILE: what `open_no_follow` answers for a link.
const LINK_REFUSED: i32 = 1920;

pub(super) fn is_link_error(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(LINK_REFUSED)
}
