//! Shared by the kernel tests: the privilege gate, fd counting, a private
//! bpffs, and reading a map's identity back from the kernel.
#![allow(dead_code)]

pub mod bpf_raw;

use aya::maps::MapData;
use ebpf_loader::Loader;
use ebpf_spec::{MapSpec, MapType};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// fd counting and pin dirs need the process to themselves: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the test lock and says whether bpf(2) works here. Without bpf(2) it
/// prints why and returns `None` (the test passes), except when `CI` is set:
/// CI has the kernel, so a skip there would hide a broken test.
pub fn kernel() -> Option<MutexGuard<'static, ()>> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let probe = MapSpec::new("probe", MapType::Array, 4, 4, 1);
    match Loader::new().create_map(&probe) {
        Ok(_) => Some(guard),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but bpf(2) does not work here: {e}")
        }
        Err(e) => {
            eprintln!("skipping: bpf(2) is not permitted here ({e}); run as root or grant CAP_BPF");
            None
        }
    }
}

pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The kernel's view of a map: (id, type, key, value, max_entries, flags, name).
pub fn info(fd: BorrowedFd<'_>) -> (u32, u32, u32, u32, u32, u32, String) {
    let data = MapData::from_fd(fd.try_clone_to_owned().unwrap()).unwrap();
    let i = data.info().unwrap();
    (
        i.id(),
        i.map_type().map(|t| t as u32).unwrap_or(u32::MAX),
        i.key_size(),
        i.value_size(),
        i.max_entries(),
        i.map_flags(),
        i.name_as_str().unwrap_or_default().to_owned(),
    )
}

/// A private bpffs mounted in a temp dir, unmounted on drop.
pub struct BpfFs {
    dir: tempfile::TempDir,
    /// What the kernel puts in a new bpffs (`maps.debug`, `progs.debug`).
    initial: Vec<String>,
}

impl BpfFs {
    pub fn mount() -> BpfFs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount -t bpf failed");
        let mut fs = BpfFs {
            dir,
            initial: Vec::new(),
        };
        fs.initial = fs.pins();
        fs
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The names pinned here since the mount, sorted.
    pub fn pins(&self) -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !self.initial.contains(n))
            .collect();
        v.sort();
        v
    }

    pub fn pin(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}

impl Drop for BpfFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

pub fn fixture(name: &str) -> ebpf_spec::CollectionSpec {
    let path = format!(
        "{}/../ebpf-spec/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    ebpf_spec::CollectionSpec::from_file(path).unwrap()
}

/// `r0 = 0; exit` as a socket filter named `name`: the smallest valid
/// program.
pub fn trivial(name: &str) -> ebpf_spec::ProgramSpec {
    let mut p = fixture("globals.bpfel.o").programs["get_rate"].clone();
    p.name = name.into();
    p.instructions = vec![
        ebpf_spec::Instruction::new(0xb7, 0, 0, 0, 0),
        ebpf_spec::Instruction::new(0x95, 0, 0, 0, 0),
    ];
    p.relocations.clear();
    p
}

/// A socket filter the verifier walks for a while (`n` instructions), then
/// accepts (`valid`: it sets r0 before it exits) or refuses (it returns an
/// unset r0): for tests that need a load to take time.
pub fn slow(name: &str, n: usize, valid: bool) -> ebpf_spec::ProgramSpec {
    use ebpf_spec::Instruction;
    let mut p = trivial(name);
    p.instructions = vec![Instruction::new(0xb7, 1, 0, 0, 0); n]; // r1 = 0
    if valid {
        p.instructions.push(Instruction::new(0xb7, 0, 0, 0, 0)); // r0 = 0
    }
    p.instructions.push(Instruction::new(0x95, 0, 0, 0, 0));
    // Its records would name instructions of `get_rate`.
    p.func_info.clear();
    p.line_info.clear();
    p
}

/// A hash map `name` of `max_entries` entries, pinned by name.
pub fn pinned_hash(name: &str, max_entries: u32) -> MapSpec {
    let mut m = MapSpec::new(name, MapType::Hash, 4, 4, max_entries);
    m.pinning = ebpf_spec::Pinning::ByName;
    m
}

/// Whether this process holds a map of `max_entries` entries (by its
/// `/proc/self/fdinfo`): a map a load has made and not pinned yet.
pub fn holds_map_of(max_entries: u32) -> bool {
    let line = format!("max_entries:\t{max_entries}\n");
    std::fs::read_dir("/proc/self/fdinfo")
        .unwrap()
        .any(|e| std::fs::read_to_string(e.unwrap().path()).is_ok_and(|t| t.contains(&line)))
}

/// A program `name` in `section` made of `code`, whose instruction `at` is a
/// bpf-to-bpf call of `function` (the loader points it there): for tests
/// that share one function between programs.
pub fn caller(
    name: &str,
    section: &str,
    code: Vec<ebpf_spec::Instruction>,
    at: usize,
    function: &str,
) -> ebpf_spec::ProgramSpec {
    let mut p = ebpf_spec::ProgramSpec::new(name, section, code, "GPL");
    p.relocations = vec![ebpf_spec::Relocation {
        instruction: at,
        target: ebpf_spec::RelocationTarget::Call {
            function: function.into(),
        },
    }];
    p
}

/// `call <function>; exit`, the call at instruction 0 (see [`caller`]).
pub fn call_and_exit() -> Vec<ebpf_spec::Instruction> {
    vec![
        ebpf_spec::Instruction::new(0x85, 0, 1, 0, -1), // BPF_CALL, BPF_PSEUDO_CALL
        ebpf_spec::Instruction::new(0x95, 0, 0, 0, 0),  // exit
    ]
}

/// Programs of `spec` whose type this kernel refuses to load at all, with
/// why: a two-instruction program of the same type and attach target
/// (`r0 = 0; exit`) fails with EPERM before the verifier says anything. On
/// this project's machine that is fentry/fexit/fmod_ret and lsm (programs
/// that need a BPF trampoline), as it is for libbpf (`bpftool prog loadall`
/// gets the same EPERM); where the kernel allows them, they must load.
pub fn refused_program_types(spec: &ebpf_spec::CollectionSpec) -> Vec<(String, String)> {
    use ebpf_spec::{CollectionSpec, Instruction};
    let mut refused = Vec::new();
    for p in spec.programs.values() {
        let mut probe = p.clone();
        probe.instructions = vec![
            Instruction::new(0xb7, 0, 0, 0, 0), // r0 = 0
            Instruction::new(0x95, 0, 0, 0, 0), // exit
        ];
        probe.relocations.clear();
        let mut s = CollectionSpec::default();
        s.programs.insert(p.name.clone(), probe);
        if let Err(e) = Loader::new().load(&s)
            && e.errno() == Some(libc::EPERM)
            && e.verifier_log().is_none_or(|l| l.text().trim().is_empty())
        {
            refused.push((
                p.name.to_string(),
                format!(
                    "this kernel refuses every {} program ({}) with EPERM before verifying it",
                    p.program_type, p.section
                ),
            ));
        }
    }
    refused
}
