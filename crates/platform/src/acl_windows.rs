//! Owner-only files on Windows: what mode 0600 (and 0700 for the directory) is on Unix, as a
//! protected DACL with one entry, full access for the current user. Protected, so nothing
//! inherited from `%APPDATA%` (Administrators, SYSTEM, a roaming profile's groups) adds readers
//! of the user token.

use std::ffi::c_void;
use std::io;
use std::path::Path;

use windows::Win32::Foundation::{CloseHandle, HANDLE, HLOCAL, LocalFree};
use windows::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACL, DACL_SECURITY_INFORMATION, GetAce, GetFileSecurityW,
    GetSecurityDescriptorDacl, GetTokenInformation, PROTECTED_DACL_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, PSID, SetFileSecurityW, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
use windows::core::{BOOL, HSTRING, PWSTR};

/// The SID of the user this process runs as, as a string (`S-1-5-21-…`).
#[allow(unsafe_code)]
pub fn user_sid() -> io::Result<String> {
    // SAFETY: the token handle is closed before returning; the buffer is sized by the first
    // call and outlives every pointer into it; the string the system allocates is freed.
    unsafe {
        let mut token = HANDLE::default();
        OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token)?;
        let mut needed = 0u32;
        let _ = GetTokenInformation(token, TokenUser, None, 0, &mut needed);
        let mut buffer = vec![0u64; (needed as usize).div_ceil(8).max(1)];
        let got = GetTokenInformation(
            token,
            TokenUser,
            Some(buffer.as_mut_ptr().cast::<c_void>()),
            needed,
            &mut needed,
        );
        let _ = CloseHandle(token);
        got?;
        let user = &*buffer.as_ptr().cast::<TOKEN_USER>();
        sid_string(user.User.Sid)
    }
}

#[allow(unsafe_code)]
unsafe fn sid_string(sid: PSID) -> io::Result<String> {
    let mut text = PWSTR::null();
    // SAFETY: `sid` points at a valid SID (the caller's); the string is freed once copied.
    unsafe {
        ConvertSidToStringSidW(sid, &mut text)?;
        let out = text.to_string().map_err(io::Error::other);
        let _ = LocalFree(Some(HLOCAL(text.0.cast())));
        out
    }
}

/// Gives `path` (a file, or a directory whose new files inherit it) a protected DACL granting
/// the current user alone full access.
#[allow(unsafe_code)]
pub fn restrict(path: &Path) -> io::Result<()> {
    let sid = user_sid()?;
    // OICI: files and folders created inside inherit the entry (a directory's only).
    let inherit = if path.is_dir() { "OICI" } else { "" };
    let sddl = HSTRING::from(format!("D:P(A;{inherit};FA;;;{sid})"));
    let name = HSTRING::from(path.as_os_str());
    // SAFETY: the descriptor the system allocates is freed after use; both strings outlive the
    // calls.
    unsafe {
        let mut descriptor = PSECURITY_DESCRIPTOR::default();
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            &sddl,
            SDDL_REVISION_1,
            &mut descriptor,
            None,
        )?;
        let set = SetFileSecurityW(
            &name,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            descriptor,
        );
        let error = io::Error::last_os_error();
        let _ = LocalFree(Some(HLOCAL(descriptor.0)));
        if set.as_bool() { Ok(()) } else { Err(error) }
    }
}

/// The SIDs `path`'s DACL grants any access to, in order: what a test (and a careful user)
/// checks against [`user_sid`].
#[allow(unsafe_code)]
pub fn granted(path: &Path) -> io::Result<Vec<String>> {
    let name = HSTRING::from(path.as_os_str());
    // SAFETY: the buffer is sized by the first call and outlives every pointer into it; ACEs
    // are read through the system's accessor, within the count the ACL gives.
    unsafe {
        let mut needed = 0u32;
        let _ = GetFileSecurityW(&name, DACL_SECURITY_INFORMATION.0, None, 0, &mut needed);
        if needed == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buffer = vec![0u64; (needed as usize).div_ceil(8)];
        let descriptor = PSECURITY_DESCRIPTOR(buffer.as_mut_ptr().cast());
        if !GetFileSecurityW(
            &name,
            DACL_SECURITY_INFORMATION.0,
            Some(descriptor),
            needed,
            &mut needed,
        )
        .as_bool()
        {
            return Err(io::Error::last_os_error());
        }
        let (mut present, mut defaulted) = (BOOL(0), BOOL(0));
        let mut dacl: *mut ACL = std::ptr::null_mut();
        GetSecurityDescriptorDacl(descriptor, &mut present, &mut dacl, &mut defaulted)?;
        if !present.as_bool() || dacl.is_null() {
            // No DACL at all means everyone has access.
            return Ok(vec!["S-1-1-0".into()]);
        }
        let mut sids = Vec::new();
        for index in 0..u32::from((*dacl).AceCount) {
            let mut ace: *mut c_void = std::ptr::null_mut();
            GetAce(dacl, index, &mut ace)?;
            let ace = ace.cast::<ACCESS_ALLOWED_ACE>();
            // Type 0 is ACCESS_ALLOWED_ACE_TYPE: a deny entry grants nothing.
            if (*ace).Header.AceType == 0 {
                let sid = PSID(std::ptr::addr_of_mut!((*ace).SidStart).cast());
                sids.push(sid_string(sid)?);
            }
        }
        Ok(sids)
    }
}
