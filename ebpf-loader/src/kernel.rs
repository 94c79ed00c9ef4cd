//! Facts about the running kernel that loading needs, each read once per
//! process and shared: its BTF (attach targets of tracing and LSM programs),
//! its configuration and version (`.kconfig` externs).

use ebpf_spec::ByteOrder;
use ebpf_spec::btf::{Btf, Kind};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The kinds of kernel BTF type a program can attach to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BtfKind {
    /// A function (`fentry`, `fexit`, `fmod_ret`, `lsm`, `iter`).
    Func,
    /// A typedef (`btf_trace_<tracepoint>` for `tp_btf`).
    Typedef,
}

/// Where the running kernel publishes its BTF.
const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// The running kernel's BTF (`/sys/kernel/btf/vmlinux`), read and parsed on
/// first use (2.4 ms for 5.5 MB, 12 ms with the name index; BENCHMARKS.md),
/// then shared by every load of the
/// process.
pub(crate) fn vmlinux() -> Result<&'static Btf, String> {
    static BTF: OnceLock<Result<Btf, String>> = OnceLock::new();
    BTF.get_or_init(|| {
        let bytes = std::fs::read(VMLINUX_BTF)
            .map_err(|e| format!("cannot read the kernel's BTF ({VMLINUX_BTF}): {e}"))?;
        Btf::parse(&bytes, ByteOrder::NATIVE)
            .map_err(|e| format!("cannot parse the kernel's BTF ({VMLINUX_BTF}): {e}"))
    })
    .as_ref()
    .map_err(String::clone)
}

/// The id of kernel BTF type `name` of `kind` (the name index is built once
/// per process, on the first lookup).
pub(crate) fn btf_id(name: &str, kind: BtfKind) -> Result<u32, String> {
    let (kind, what) = match kind {
        BtfKind::Func => (Kind::Func, "function"),
        BtfKind::Typedef => (Kind::Typedef, "typedef"),
    };
    vmlinux()?
        .find(name, kind)
        .ok_or_else(|| format!("the kernel's BTF has no {what} named `{name}` to attach to"))
}

/// Where the kernel lists its symbols and their addresses.
const KALLSYMS: &str = "/proc/kallsyms";

/// The address of kernel symbol `name` in `/proc/kallsyms` (for typeless
/// `__ksym` externs), `None` if it is not listed. Each name is looked up once
/// per process (one pass over the file, about 120,000 lines here) and kept.
///
/// # Errors
/// If the file cannot be read, if it shows every address as 0 (the kernel
/// hides addresses from a reader without `CAP_SYSLOG`: `kptr_restrict`), or
/// if it lists `name` at two different addresses (ambiguous, as libbpf says).
pub(crate) fn kallsyms_address(name: &str) -> Result<Option<u64>, String> {
    static SEEN: OnceLock<std::sync::Mutex<HashMap<String, Option<u64>>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    if let Some(&found) = seen.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
        return Ok(found);
    }
    let found = kallsyms_lookup(&read_kallsyms(name)?, name)?;
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_owned(), found);
    Ok(found)
}

/// The address of `name` in the text of `/proc/kallsyms` (`address type name
/// [module]` per line), as libbpf reads it: a local data symbol's
/// `.llvm.<hash>` suffix (LTO kernels) is not part of its name, address 0 is
/// a real address (per-CPU symbols start at 0) unless the file shows no
/// non-zero address at all, and a name at two addresses is an error.
fn kallsyms_lookup(text: &str, name: &str) -> Result<Option<u64>, String> {
    let mut found: Option<u64> = None;
    let mut any_address = false;
    for (addr, sym) in kallsyms_entries(text) {
        any_address |= addr != 0;
        if sym != name {
            continue;
        }
        match found {
            Some(prev) if prev != addr => {
                return Err(format!(
                    "{KALLSYMS} lists `{name}` at two addresses ({prev:#x} and {addr:#x}): \
                     which one is meant is ambiguous"
                ));
            }
            _ => found = Some(addr),
        }
    }
    if found.is_some() && !any_address {
        return Err(format!(
            "{KALLSYMS} shows every address as 0: the kernel hides them from this process \
             (kptr_restrict; CAP_SYSLOG is needed)"
        ));
    }
    Ok(found)
}

/// The text of `/proc/kallsyms`, read for symbol `name`.
fn read_kallsyms(name: &str) -> Result<String, String> {
    std::fs::read_to_string(KALLSYMS)
        .map_err(|e| format!("cannot read {KALLSYMS} for `{name}`: {e}"))
}

/// The (address, name) of each line of the text of `/proc/kallsyms`
/// (`address type name [module]`); a local data symbol's `.llvm.<hash>`
/// suffix (LTO kernels) is not part of its name.
fn kallsyms_entries(text: &str) -> impl Iterator<Item = (u64, &str)> {
    text.lines().filter_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let (addr, kind, sym) = (fields.next()?, fields.next()?, fields.next()?);
        let addr = u64::from_str_radix(addr, 16).ok()?;
        let sym = match sym.find(".llvm.") {
            Some(at) if kind == "d" => &sym[..at],
            _ => sym,
        };
        Some((addr, sym))
    })
}

/// The machine's memory in bytes (`MemTotal` in `/proc/meminfo`), read once;
/// `None` where it cannot be read.
pub(crate) fn mem_total() -> Option<u64> {
    static TOTAL: OnceLock<Option<u64>> = OnceLock::new();
    *TOTAL.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/meminfo").ok()?;
        let kib: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()?;
        kib.checked_mul(1024)
    })
}

/// The number of possible CPUs (`/sys/devices/system/cpu/possible`: the
/// highest index + 1, as the kernel sizes per-CPU maps), read once.
pub(crate) fn possible_cpus() -> Result<u32, &'static String> {
    static CPUS: OnceLock<Result<u32, String>> = OnceLock::new();
    CPUS.get_or_init(|| {
        let path = "/sys/devices/system/cpu/possible";
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        crate::map::parse_cpu_list(&text).ok_or_else(|| format!("cannot parse {path}: {text:?}"))
    })
    .as_ref()
    .copied()
}

/// `LINUX_VERSION_CODE` of a release string such as `6.18.44-fc`: major,
/// minor and patch (at most 255), as `KERNEL_VERSION(a, b, c)` packs them.
pub(crate) fn version_code(release: &str) -> Option<u32> {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major.min(255) << 16) | (minor.min(255) << 8) | patch.min(255))
}

/// `LINUX_VERSION_CODE` of the running kernel as libbpf finds it
/// (`get_kernel_version`): Ubuntu's `/proc/version_signature`, else the
/// version a Debian kernel gives in `uname -v`, else the release (the
/// release of a distribution kernel need not be its version: Debian's
/// `6.1.0-18-amd64` is 6.1.76). Read once per process.
fn kernel_version_code() -> Result<u32, String> {
    static CODE: OnceLock<Result<u32, String>> = OnceLock::new();
    CODE.get_or_init(find_kernel_version_code).clone()
}

fn find_kernel_version_code() -> Result<u32, String> {
    if let Some(code) = std::fs::read_to_string("/proc/version_signature")
        .ok()
        .and_then(|s| ubuntu_version(&s))
    {
        return Ok(code);
    }
    if let Some(code) = std::fs::read_to_string("/proc/sys/kernel/version")
        .ok()
        .and_then(|s| debian_version(&s))
    {
        return Ok(code);
    }
    let release = release()?;
    version_code(release)
        .ok_or_else(|| format!("cannot read a version from kernel release `{release}`"))
}

/// `KERNEL_VERSION(a, b, c)` of the first `a.b.c` of `text` (three numbers,
/// as libbpf's `sscanf("%u.%u.%u")` reads them), or `None`.
fn dotted_version(text: &str) -> Option<u32> {
    let mut parts = text.splitn(3, '.');
    let num = |p: &str| -> Option<u32> {
        let digits: &str = &p[..p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len())];
        digits.parse().ok()
    };
    let (major, minor, patch) = (
        num(parts.next()?)?,
        num(parts.next()?)?,
        num(parts.next()?)?,
    );
    // A code past 32 bits is no version (libbpf's wraps, then reads 0 and
    // looks elsewhere).
    let code = (u64::from(major) << 16) + (u64::from(minor) << 8) + u64::from(patch.min(255));
    u32::try_from(code).ok().filter(|&c| c != 0)
}

/// The version in Ubuntu's `/proc/version_signature` (`Ubuntu
/// 5.15.0-91.101-generic 5.15.131`: the third field).
fn ubuntu_version(signature: &str) -> Option<u32> {
    dotted_version(signature.split_whitespace().nth(2)?)
}

/// The version a Debian kernel gives in `uname -v` (`#1 SMP Debian
/// 6.1.76-1 (2024-02-01)`).
fn debian_version(version: &str) -> Option<u32> {
    let at = version.find("Debian ")?;
    dotted_version(&version[at + "Debian ".len()..])
}

/// The running kernel's release (`uname -r`), read once.
fn release() -> Result<&'static str, String> {
    static RELEASE: OnceLock<Result<String, String>> = OnceLock::new();
    RELEASE
        .get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .map_err(|e| format!("cannot read /proc/sys/kernel/osrelease: {e}"))
        })
        .as_ref()
        .map(String::as_str)
        .map_err(String::clone)
}

/// The running kernel's configuration (`CONFIG_X` to its value as written in
/// the config file: `y`, `m`, a number, a quoted string), read once from
/// `/boot/config-<release>` or else `/proc/config.gz`, libbpf's order.
fn config() -> Result<&'static HashMap<String, String>, String> {
    static CONFIG: OnceLock<Result<HashMap<String, String>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let text = read_config()?;
            Ok(parse_config(&text))
        })
        .as_ref()
        .map_err(String::clone)
}

fn read_config() -> Result<String, String> {
    // libbpf's order (`bpf_object__read_kconfig_file`): the file in /boot
    // first. Each may be gzip-compressed or not: libbpf reads both with
    // `gzopen`, which takes either.
    let boot = format!("/boot/config-{}", release()?);
    // One that cannot be read as either falls back to the next, as before.
    let boot_err = match read_config_file(&boot) {
        Ok(text) => return Ok(text),
        Err(e) => e,
    };
    read_config_file("/proc/config.gz").map_err(|e| {
        format!(
            "the kernel's configuration is needed for `.kconfig` externs, but neither \
             {boot} ({boot_err}) nor /proc/config.gz ({e}) can be read"
        )
    })
}

/// The most of a kernel config file read, compressed and uncompressed (a
/// real one is about 300 KB): a larger one is refused, not read until
/// memory runs out.
const MAX_CONFIG: u64 = 64 << 20;

fn read_config_file(path: &str) -> Result<String, std::io::Error> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_CONFIG + 1)
        .read_to_end(&mut bytes)?;
    config_text(bytes)
}

/// The text of a kernel config file, gzip-compressed (of one member or
/// several, as `gzip -dc` reads them) or not, of at most `MAX_CONFIG`
/// bytes either way.
fn config_text(bytes: Vec<u8>) -> Result<String, std::io::Error> {
    use std::io::{Error, ErrorKind, Read};
    let too_large = || {
        Error::new(
            ErrorKind::InvalidData,
            format!("a kernel config over {MAX_CONFIG} bytes"),
        )
    };
    if bytes.len() as u64 > MAX_CONFIG {
        return Err(too_large());
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .take(MAX_CONFIG + 1)
            .read_to_string(&mut text)?;
        if text.len() as u64 > MAX_CONFIG {
            return Err(too_large());
        }
        Ok(text)
    } else {
        String::from_utf8(bytes).map_err(|e| Error::new(ErrorKind::InvalidData, e))
    }
}

/// `CONFIG_X=value` lines; of a repeated option, the first line counts, as
/// for libbpf.
fn parse_config(text: &str) -> HashMap<String, String> {
    let mut config = HashMap::new();
    for (k, v) in text
        .lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter_map(|l| l.split_once('='))
    {
        config.entry(k.to_owned()).or_insert_with(|| v.to_owned());
    }
    config
}

/// How libbpf reads a `.kconfig` extern's type (`find_kcfg_type`): it
/// decides which of the kernel's values the extern can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kcfg {
    /// `bool`: `y` or `n`, 0 or 1.
    Bool,
    /// Any 1-byte integer (`char`, `__u8`): `y`, `n` or `m` as that
    /// character, or a number that fits.
    Char {
        /// Whether a negative value fits (`signed char`).
        signed: bool,
    },
    /// An integer of 2, 4 or 8 bytes: a number.
    Int {
        /// Whether a negative value fits.
        signed: bool,
    },
    /// `enum libbpf_tristate`: `n`, `y`, `m` as 0, 1, 2.
    Tristate,
    /// An array of 1-byte integers: a string, NUL-terminated.
    CharArray,
    /// Anything else: refused, as libbpf refuses it.
    Unknown,
}

/// The [`Kcfg`] of type `id` of `btf` (typedefs and modifiers skipped).
pub(crate) fn kcfg_type(btf: &ebpf_spec::btf::Btf, id: u32) -> Kcfg {
    let resolved = btf
        .skip_mods_and_typedefs(id)
        .ok()
        .and_then(|id| btf.ty(id));
    match resolved.map(|t| t.data()) {
        // One level of array only: a char array.
        Some(ebpf_spec::btf::TypeData::Array(a)) if a.nelems > 0 => {
            match kcfg_scalar(btf, a.elem) {
                Kcfg::Char { .. } => Kcfg::CharArray,
                _ => Kcfg::Unknown,
            }
        }
        _ => kcfg_scalar(btf, id),
    }
}

/// The [`Kcfg`] of type `id` when it is no array (an array: `Unknown`).
fn kcfg_scalar(btf: &ebpf_spec::btf::Btf, id: u32) -> Kcfg {
    use ebpf_spec::btf::{Int, Kind, TypeData};
    let Some(t) = btf
        .skip_mods_and_typedefs(id)
        .ok()
        .and_then(|id| btf.ty(id))
    else {
        return Kcfg::Unknown;
    };
    let signed = |i: &Int| i.encoding & Int::SIGNED != 0;
    match t.data() {
        TypeData::Int(i) if i.encoding & Int::BOOL != 0 => {
            if i.size == 1 {
                Kcfg::Bool
            } else {
                Kcfg::Unknown
            }
        }
        TypeData::Int(i) if i.size == 1 => Kcfg::Char { signed: signed(&i) },
        TypeData::Int(i) if matches!(i.size, 2 | 4 | 8) => Kcfg::Int { signed: signed(&i) },
        _ if matches!(t.kind(), Kind::Enum | Kind::Enum64)
            && t.name() == Some("libbpf_tristate")
            && (t.kind() == Kind::Enum64 || t.size_or_type() == 4) =>
        {
            Kcfg::Tristate
        }
        _ => Kcfg::Unknown,
    }
}

/// The value of `.kconfig` extern `name` of type `ty` (`size` bytes, in the
/// host's byte order), as libbpf computes it (`bpf_object__resolve_externs`,
/// `set_kcfg_value_*`):
///
/// - `LINUX_KERNEL_VERSION` as libbpf finds it (see
///   `kernel_version_code`); `LINUX_HAS_BPF_COOKIE`, 1 if
///   the kernel has `bpf_get_attach_cookie` (probed once per process);
///   `LINUX_HAS_SYSCALL_WRAPPER`, 1 if it has the architecture's syscall
///   wrappers (`__x64_sys_bpf` in `/proc/kallsyms` on x86-64; libbpf opens a
///   kprobe there, and says 0 where kprobes cannot be opened); another
///   `LINUX_` name is 0 if `weak`, else refused;
/// - `CONFIG_X` from the kernel's configuration: `y`/`n`/`m` into a bool
///   (not `m`), a char (the character) or an `enum libbpf_tristate` (1, 0,
///   2); a number into an integer or char it fits; a quoted string into a
///   char array, NUL-terminated and cut to fit. An option the kernel does
///   not set is 0 if `weak`, else refused;
/// - any other name is refused.
pub(crate) fn kconfig_value(
    name: &str,
    size: usize,
    ty: Kcfg,
    weak: bool,
) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; size];
    if ty == Kcfg::Unknown {
        return Err(format!(
            "`.kconfig` extern `{name}` has a type libbpf does not fill (bool, char, a 2-, 4- or \
             8-byte integer, enum libbpf_tristate, or a char array)"
        ));
    }
    if let Some(virt) = name.strip_prefix("LINUX_") {
        let value = match virt {
            "KERNEL_VERSION" => u64::from(kernel_version_code()?),
            "HAS_BPF_COOKIE" => u64::from(has_bpf_cookie()),
            "HAS_SYSCALL_WRAPPER" => u64::from(has_syscall_wrapper()?),
            // 0, which libbpf writes as a number: the type must take one.
            _ if weak => 0,
            _ => {
                return Err(format!(
                    "`.kconfig` extern `{name}` is no value libbpf provides (LINUX_KERNEL_VERSION, \
                     LINUX_HAS_BPF_COOKIE, LINUX_HAS_SYSCALL_WRAPPER); declared __weak it reads 0"
                ));
            }
        };
        set_kcfg_number(name, ty, value, &mut out)?;
        return Ok(out);
    }
    if !name.starts_with("CONFIG_") {
        return Err(format!(
            "`.kconfig` extern `{name}` is neither a CONFIG_ option nor a LINUX_ value"
        ));
    }
    let Some(value) = config()?.get(name) else {
        if weak {
            return Ok(out);
        }
        return Err(format!(
            "`.kconfig` extern `{name}` is not set in the running kernel's configuration \
             (declared __weak it reads 0)"
        ));
    };
    let implies = |what: &str| {
        format!("`.kconfig` extern `{name}`: the kernel's value `{value}` needs {what} type")
    };
    match value.as_bytes() {
        [c @ (b'y' | b'n' | b'm')] => match ty {
            Kcfg::Bool if *c == b'm' => return Err(implies("a tristate or char")),
            Kcfg::Bool => out[0] = u8::from(*c == b'y'),
            Kcfg::Char { .. } => out[0] = *c,
            Kcfg::Tristate => {
                let tri: u64 = match c {
                    b'y' => 1,
                    b'm' => 2,
                    _ => 0,
                };
                write_ne(tri, &mut out);
            }
            _ => return Err(implies("a bool, tristate or char")),
        },
        [b'"', inner @ .., b'"'] => {
            if ty != Kcfg::CharArray {
                return Err(implies("a char array"));
            }
            let n = inner.len().min(size.saturating_sub(1));
            out[..n].copy_from_slice(&inner[..n]);
        }
        _ => {
            let n = parse_config_number(value).ok_or_else(|| {
                format!("cannot read `{name}={value}` from the kernel's configuration")
            })?;
            if !matches!(ty, Kcfg::Int { .. } | Kcfg::Char { .. }) {
                return Err(implies("an integer"));
            }
            set_kcfg_number(name, ty, n, &mut out)?;
        }
    }
    Ok(out)
}

/// Writes number `v` into `out` (an extern of type `ty`), refusing a value
/// that does not fit, as libbpf does (`set_kcfg_value_num`,
/// `is_kcfg_value_in_range`).
fn set_kcfg_number(name: &str, ty: Kcfg, v: u64, out: &mut [u8]) -> Result<(), String> {
    let signed = match ty {
        Kcfg::Int { signed } | Kcfg::Char { signed } => signed,
        Kcfg::Bool if v <= 1 => false,
        Kcfg::Bool => return Err(format!("`.kconfig` extern `{name}`: {v} is not a bool")),
        _ => {
            return Err(format!(
                "`.kconfig` extern `{name}`: the number {v} needs an integer, char or bool type"
            ));
        }
    };
    let bits = out.len() * 8;
    if !matches!(out.len(), 1 | 2 | 4 | 8) {
        return Err(format!(
            "`.kconfig` extern `{name}` is {} bytes: a number needs 1, 2, 4 or 8",
            out.len()
        ));
    }
    let fits = bits == 64
        || if signed {
            v.wrapping_add(1 << (bits - 1)) < (1 << bits)
        } else {
            v >> bits == 0
        };
    if !fits {
        return Err(format!(
            "`.kconfig` extern `{name}`: the kernel's value {} does not fit in {} bytes",
            if signed {
                (v as i64).to_string()
            } else {
                v.to_string()
            },
            out.len()
        ));
    }
    write_ne(v, out);
    Ok(())
}

/// The low `out.len()` bytes of `v`, in the host's byte order.
fn write_ne(v: u64, out: &mut [u8]) {
    let bytes = v.to_ne_bytes();
    let n = out.len().min(8);
    if cfg!(target_endian = "little") {
        out[..n].copy_from_slice(&bytes[..n]);
    } else {
        out[..n].copy_from_slice(&bytes[8 - n..]);
    }
}

/// A number of the kernel's configuration as libbpf reads it (`strtoull`
/// with base 0): decimal, `0x` hexadecimal, `0` octal, a leading `-`
/// wrapping around.
fn parse_config_number(v: &str) -> Option<u64> {
    let v = v.trim_start();
    let (negative, v) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let (digits, radix) = if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        (hex, 16)
    } else if v.len() > 1 && v.starts_with('0') {
        (&v[1..], 8)
    } else {
        (v, 10)
    };
    // Digits only: `from_str_radix` would take another sign.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = u64::from_str_radix(digits, radix).ok()?;
    Some(if negative { n.wrapping_neg() } else { n })
}

/// Whether the kernel has `bpf_get_attach_cookie`, as libbpf probes it
/// (`probe_kern_bpf_cookie`): a tracepoint program calling it loads. Once
/// per process; a probe that fails means no.
fn has_bpf_cookie() -> bool {
    static COOKIE: OnceLock<bool> = OnceLock::new();
    *COOKIE.get_or_init(|| {
        use ebpf_spec::Instruction;
        use zerocopy::IntoBytes;
        // call bpf_get_attach_cookie; exit
        let insns = [
            Instruction::new(0x85, 0, 0, 0, 174),
            Instruction::new(0x95, 0, 0, 0, 0),
        ];
        crate::sys::prog_load(
            &crate::sys::ProgLoad::probe(
                ebpf_spec::ProgramType::Tracepoint.raw(),
                insns.as_bytes(),
                "probe_cookie",
            ),
            &mut [],
            0,
        )
        .is_ok()
    })
}

/// Whether the kernel has the architecture's syscall wrappers
/// (`__<arch>_sys_bpf`, libbpf's `arch_specific_syscall_pfx`), read from
/// `/proc/kallsyms` once per process; `false` on architectures libbpf knows
/// none for. (libbpf opens a kprobe on it instead, and says 0 where kprobes
/// cannot be opened: on this project's test machine, which has no
/// `CONFIG_KPROBES`, libbpf says 0 and this 1.)
fn has_syscall_wrapper() -> Result<bool, String> {
    static WRAPPER: OnceLock<Result<bool, String>> = OnceLock::new();
    WRAPPER.get_or_init(find_syscall_wrapper).clone()
}

fn find_syscall_wrapper() -> Result<bool, String> {
    let prefix = if cfg!(target_arch = "x86_64") {
        "x64"
    } else if cfg!(target_arch = "x86") {
        "ia32"
    } else if cfg!(target_arch = "s390x") {
        "s390x"
    } else if cfg!(target_arch = "arm") {
        "arm"
    } else if cfg!(target_arch = "aarch64") {
        "arm64"
    } else if cfg!(any(target_arch = "mips", target_arch = "mips64")) {
        "mips"
    } else if cfg!(any(target_arch = "riscv32", target_arch = "riscv64")) {
        "riscv"
    } else if cfg!(any(target_arch = "powerpc", target_arch = "powerpc64")) {
        "powerpc"
    } else if cfg!(target_arch = "loongarch64") {
        "loongarch"
    } else {
        return Ok(false);
    };
    // Only whether it is listed: a reader without CAP_SYSLOG sees the
    // names, with every address 0.
    let name = format!("__{prefix}_sys_bpf");
    Ok(kallsyms_entries(&read_kallsyms(&name)?).any(|(_, sym)| sym == name))
}

/// Whether the verifier takes a map-value `ld_imm64` offset of 2^29 or more
/// (kernel commit 12a1fe6e12db, "Do not limit maximum direct offset into
/// arena map", newer than this machine's 6.18), which `__arena` globals at
/// the end of a large arena need. Probed once per process as libbpf does: a
/// program whose offset lies far past a 1-byte array value is refused
/// either way; the verifier's message tells which check refused it. As with
/// libbpf, a probe that fails (no memory, no fds) means no: the globals then
/// go at the arena's start, which every kernel takes. The answer is kept,
/// so every load of the process places them alike.
pub(crate) fn ldimm64_full_range_offsets() -> bool {
    static FULL: OnceLock<bool> = OnceLock::new();
    *FULL.get_or_init(|| probe_ldimm64_full_range().unwrap_or(false))
}

fn probe_ldimm64_full_range() -> Result<bool, String> {
    use ebpf_spec::Instruction;
    use zerocopy::IntoBytes;
    let map = crate::sys::map_create(&crate::sys::MapCreate {
        map_type: ebpf_spec::MapType::Array.raw(),
        key_size: 4,
        value_size: 1,
        max_entries: 1,
        map_flags: 0,
        inner_map_fd: None,
        numa_node: 0,
        name: "probe_ldimm64",
        map_extra: 0,
        btf: None,
        btf_vmlinux_value_type_id: 0,
    })
    .map_err(|e| format!("probing ld_imm64 offsets: creating an array failed: {e}"))?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&map);
    // r1 = &value + 2^30 (BPF_PSEUDO_MAP_VALUE); exit.
    let insns = [
        Instruction::new(Instruction::LD_IMM64, 1, 2, 0, fd),
        Instruction::new(0, 0, 0, 0, 1 << 30),
        Instruction::new(0x95, 0, 0, 0, 0),
    ];
    let mut log = vec![0u8; 4096];
    let r = crate::sys::prog_load(
        &crate::sys::ProgLoad::probe(
            ebpf_spec::ProgramType::SocketFilter.raw(),
            insns.as_bytes(),
            "probe_ldimm64",
        ),
        &mut log,
        1,
    );
    let text = String::from_utf8_lossy(log.split(|&b| b == 0).next().unwrap_or_default());
    match r {
        Ok(_) => {
            Err("probing ld_imm64 offsets: a program reading far past a map value loaded".into())
        }
        Err(_) if text.contains("direct value offset of") => Ok(false),
        Err(_) if text.contains("invalid access to map value pointer") => Ok(true),
        Err((e, _)) => Err(format!(
            "probing ld_imm64 offsets: unexpected refusal ({e}): {}",
            text.trim()
        )),
    }
}

/// The capabilities bpf(2) checks, as this process has them: from `CapEff`
/// of `/proc/self/status`, and only in the initial user namespace (an
/// identity `/proc/self/uid_map`: capabilities in a namespace of its own
/// count for nothing with bpf(2)). CAP_SYS_ADMIN stands for the other three,
/// as the kernel takes it. `None` when either file cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Capabilities {
    /// CAP_BPF: maps, and programs of every type.
    pub bpf: bool,
    /// CAP_NET_ADMIN: networking programs (tc, XDP, cgroup sockets...).
    pub net_admin: bool,
    /// CAP_PERFMON: tracing programs, and a verifier that allows pointer
    /// arithmetic and comparisons (`bpf_allow_ptr_leaks`).
    pub perfmon: bool,
    /// In the initial user namespace.
    pub initial_namespace: bool,
}

impl Capabilities {
    pub(crate) fn of_this_process() -> Option<Capabilities> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let hex = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))?
            .trim();
        let effective = u64::from_str_radix(hex, 16).ok()?;
        let map = std::fs::read_to_string("/proc/self/uid_map").ok()?;
        Some(Capabilities::from_effective(
            effective,
            is_identity_uid_map(&map),
        ))
    }

    pub(crate) fn from_effective(effective: u64, initial_namespace: bool) -> Capabilities {
        const CAP_NET_ADMIN: u32 = 12;
        const CAP_SYS_ADMIN: u32 = 21;
        const CAP_PERFMON: u32 = 38;
        const CAP_BPF: u32 = 39;
        let has = |cap: u32| initial_namespace && effective & (1 << cap) != 0;
        let admin = has(CAP_SYS_ADMIN);
        Capabilities {
            bpf: admin || has(CAP_BPF),
            net_admin: admin || has(CAP_NET_ADMIN),
            perfmon: admin || has(CAP_PERFMON),
            initial_namespace,
        }
    }
}

/// What EMFILE (or ENFILE) means for a load: the process's open-file limit,
/// which every map and program of every collection it holds counts against.
pub(crate) fn open_files_hint() -> String {
    let now = crate::sys::open_file_limit()
        .map(|limit| format!(" (now {}, at most {})", limit.rlim_cur, limit.rlim_max))
        .unwrap_or_default();
    format!(
        "the process's open-file limit, RLIMIT_NOFILE{now}, is reached: every map and program \
         of every collection it holds is an fd; raise the limit (setrlimit, `ulimit -n`) or \
         load fewer instances at once"
    )
}

/// Whether a `uid_map` is the initial namespace's: every uid to itself.
fn is_identity_uid_map(map: &str) -> bool {
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_initial_namespace_maps_every_uid_to_itself() {
        use super::is_identity_uid_map;
        assert!(is_identity_uid_map("         0          0 4294967295\n"));
        // `unshare -Ur`: root inside, the user's uid outside.
        assert!(!is_identity_uid_map("         0       1000          1\n"));
        assert!(!is_identity_uid_map("0 0 65536\n"));
        assert!(!is_identity_uid_map(""));
    }

    #[test]
    fn kallsyms_lines() {
        use super::kallsyms_lookup as find;
        let text = "ffffffff81000000 T _stext\n\
                    ffffffff814d58f0 T bpf_prog_put\n\
                    0000000000000000 A fixed_percpu_data\n\
                    ffffffff82000010 d counter.llvm.123456\n\
                    ffffffff82000020 T other.llvm.99\n\
                    ffffffff814d58f0 t bpf_prog_put\n\
                    ffffffffc0000000 t dup [mod_a]\n\
                    ffffffffc0001000 t dup [mod_b]\n\
                    garbage\n";
        assert_eq!(find(text, "bpf_prog_put"), Ok(Some(0xffff_ffff_814d_58f0)));
        assert_eq!(
            find(text, "fixed_percpu_data"),
            Ok(Some(0)),
            "per-CPU symbols start at 0"
        );
        assert_eq!(
            find(text, "counter"),
            Ok(Some(0xffff_ffff_8200_0010)),
            "LTO suffix"
        );
        assert_eq!(
            find(text, "other"),
            Ok(None),
            "only local data loses the suffix"
        );
        assert_eq!(find(text, "bpf_prog"), Ok(None));
        assert!(find(text, "dup").unwrap_err().contains("ambiguous"));
        let hidden = "0000000000000000 T _stext\n0000000000000000 T bpf_prog_put\n";
        assert!(
            find(hidden, "bpf_prog_put")
                .unwrap_err()
                .contains("kptr_restrict")
        );
    }

    use super::*;

    /// A config file is read whether gzip-compressed or not, as libbpf's
    /// `gzopen` reads it (a compressed `/boot/config-*` used to fail).
    #[test]
    fn config_files_are_read_compressed_or_not() {
        use std::io::Write;
        let text = "# comment\nCONFIG_BPF=y\nCONFIG_HZ=250\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        let compressed = gz.finish().unwrap();
        assert_eq!(config_text(compressed).unwrap(), text);
        assert_eq!(config_text(text.as_bytes().to_vec()).unwrap(), text);
        assert!(
            config_text(vec![0x1f, 0x8b, 0, 1]).is_err(),
            "a broken gzip stream"
        );
        assert!(config_text(vec![0xff, 0xfe]).is_err(), "not text");
        // Several gzip members (`cat a.gz b.gz`): all are read, as `gzip -dc`
        // and libbpf's `gzopen` read them.
        let gz = |t: &str| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(t.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let mut both = gz("CONFIG_A=y\n");
        both.extend(gz("CONFIG_B=y\n"));
        assert_eq!(config_text(both).unwrap(), "CONFIG_A=y\nCONFIG_B=y\n");
        // A gzip bomb is refused at the limit, not expanded without end.
        let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let block = vec![b'y'; 1 << 20];
        for _ in 0..(MAX_CONFIG >> 20) + 1 {
            bomb.write_all(&block).unwrap();
        }
        let e = config_text(bomb.finish().unwrap()).unwrap_err();
        assert!(e.to_string().contains("a kernel config over"), "{e}");
        let config = parse_config(&config_text(text.as_bytes().to_vec()).unwrap());
        assert_eq!(config.get("CONFIG_HZ").map(String::as_str), Some("250"));
    }

    #[test]
    fn version_codes() {
        assert_eq!(version_code("6.18.44-fc-v669"), Some(0x06122c));
        assert_eq!(version_code("5.4.300"), Some(0x0504ff));
        assert_eq!(version_code("6.1"), Some(0x060100));
        assert_eq!(version_code("nope"), None);
    }

    /// Where libbpf finds a distribution kernel's version.
    #[test]
    fn distribution_versions() {
        assert_eq!(
            ubuntu_version("Ubuntu 5.15.0-91.101-generic 5.15.131\n"),
            Some(0x050f83)
        );
        assert_eq!(ubuntu_version("Ubuntu 5.15.0-91.101-generic"), None);
        assert_eq!(
            debian_version("#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n"),
            Some(0x06014c)
        );
        assert_eq!(debian_version("#1 SMP PREEMPT_DYNAMIC Thu Jan 1"), None);
        assert_eq!(debian_version("#1 SMP Debian 6.1 (x)"), None);
        // The patch level saturates at 255, as KERNEL_VERSION does.
        assert_eq!(debian_version("Debian 4.19.300-1"), Some(0x0413ff));
        // A code past 32 bits is none.
        assert_eq!(debian_version("#1 SMP Debian 65535.256.0-1 (x)"), None);
    }

    /// Numbers as `strtoull` with base 0 reads them, whole.
    #[test]
    fn config_numbers() {
        assert_eq!(parse_config_number("250"), Some(250));
        assert_eq!(parse_config_number("0x1f"), Some(31));
        assert_eq!(parse_config_number("0755"), Some(0o755));
        assert_eq!(parse_config_number("0"), Some(0));
        assert_eq!(parse_config_number("+5"), Some(5));
        assert_eq!(parse_config_number("-1"), Some(u64::MAX));
        assert_eq!(parse_config_number(" 5"), Some(5), "strtoull skips blanks");
        for bad in ["", "0x", "0x+5", "++5", "-+5", "0+7", "12a", "089"] {
            assert_eq!(parse_config_number(bad), None, "{bad}");
        }
    }

    /// A weak `LINUX_` extern libbpf does not know is 0, written as a
    /// number: a type that takes none is refused, weak or not.
    #[test]
    fn unknown_linux_externs() {
        let int = Kcfg::Int { signed: false };
        assert_eq!(kconfig_value("LINUX_FOO", 4, int, true), Ok(vec![0; 4]));
        assert!(kconfig_value("LINUX_FOO", 4, int, false).is_err());
        assert!(kconfig_value("LINUX_FOO", 4, Kcfg::CharArray, true).is_err());
        assert!(kconfig_value("LINUX_FOO", 4, Kcfg::Tristate, true).is_err());
        assert!(kconfig_value("OTHER", 4, int, true).is_err());
    }

    #[test]
    fn config_lines() {
        let c = parse_config(
            "# comment\nCONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_D=\"x\"\n",
        );
        assert_eq!(c["CONFIG_A"], "y");
        assert_eq!(c["CONFIG_B"], "m");
        assert!(!c.contains_key("CONFIG_C"));
        assert_eq!(c["CONFIG_D"], "\"x\"");
        // A repeated option: the first line counts, as for libbpf.
        assert_eq!(parse_config("CONFIG_A=1\nCONFIG_A=2\n")["CONFIG_A"], "1");
    }
}
