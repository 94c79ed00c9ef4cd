//! Pinning by name under a bpffs directory.

use crate::{LoadError, sys};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A directory on a bpffs where maps are pinned by name.
#[derive(Debug, Clone)]
pub(crate) struct PinDir {
    path: PathBuf,
}

impl PinDir {
    /// Checks that `path` exists and is on a bpffs.
    pub(crate) fn new(path: &Path) -> Result<PinDir, LoadError> {
        let err = |what: String| LoadError::PinPath {
            path: path.to_owned(),
            what,
        };
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| err("contains a NUL byte".into()))?;
        match sys::is_bpffs(&c) {
            Ok(true) => Ok(PinDir {
                path: path.to_owned(),
            }),
            Ok(false) => Err(err(
                "is not on a bpf filesystem (mount one with `mount -t bpf bpf DIR`)".into(),
            )),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The pin of map `name`: `name` must be a safe file name.
    pub(crate) fn pin_of(&self, name: &str) -> Result<(PathBuf, CString), String> {
        check_pin_name(name)?;
        let path = self.path.join(name);
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| "contains a NUL byte")?;
        Ok((path, c))
    }
}

/// A map name that is safe as a file name in the pin directory: not empty,
/// no `/` or NUL, no `.` (a bpffs refuses names with dots: they are reserved
/// for its own files, so `.` and `..` cannot escape either), at most 15 bytes
/// (the kernel's limit on map names, so the pin and the map carry the same
/// name).
pub(crate) fn check_pin_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("`{name}` cannot be pinned: it is not a file name"));
    }
    if name.contains('.') {
        return Err(format!(
            "`{}` cannot be pinned: a bpffs refuses names with a '.'",
            name.escape_debug()
        ));
    }
    if name.contains('/') || name.contains('\0') {
        return Err(format!(
            "`{}` cannot be pinned: it contains '/' or NUL",
            name.escape_debug()
        ));
    }
    if name.len() > 15 {
        return Err(format!(
            "`{name}` cannot be pinned: {} bytes, at most 15",
            name.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_pin_names_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "../etc",
            "a/b",
            "nul\0x",
            "sixteen_bytes_xx",
            ".rodata",
        ] {
            assert!(check_pin_name(bad).is_err(), "{bad:?}");
        }
        for good in ["flows", "tc_global", "fifteen_bytes_x"] {
            assert!(check_pin_name(good).is_ok(), "{good:?}");
        }
    }
}
