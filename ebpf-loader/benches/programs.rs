//! Whole collections, maps and programs, per collection, in the same run:
//! the floor (the bpf(2) calls the collection needs, on prepared attributes),
//! ebpf-loader's `load`, `load_many` and `load_all` (1 and 2 threads), aya's
//! `EbpfLoader` reused with a cached `Btf` (then `load()` of every program),
//! and libbpf's `bpf_object__open_mem` + `bpf_object__load` (Debian's
//! libbpf, opened with dlopen; skipped with a message where it is missing).
//!
//! Needs root (or CAP_BPF): every case calls bpf(2).
//!
//! Run: `cargo bench -p ebpf-loader --bench programs`.

use aya_obj::generated::{bpf_attr, bpf_cmd};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ebpf_loader::Loader;
use ebpf_spec::{CollectionSpec, Instruction, MapFlags, MapValue, RelocationTarget};
use std::ffi::{CString, c_void};
use std::hint::black_box;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;
use zerocopy::IntoBytes;

/// Instances per `load_many` call.
const MANY: usize = 16;

/// Objects without pinned maps (aya refuses pinning without a pin path, and
/// libbpf pins under /sys/fs/bpf by default): two of libxdp's XDP programs
/// with BTF maps, and fixtures with legacy maps and with data sections.
/// A contender that cannot load one is skipped for it, with a message.
const OBJECTS: &[(&str, &str)] = &[
    ("xdpdump_xdp", "libxdp/xdpdump_xdp.o"),
    ("xsk_def_xdp_prog", "libxdp/xsk_def_xdp_prog.o"),
    ("legacy_maps", "legacy_maps.bpfel.o"),
    ("globals", "globals.bpfel.o"),
];

fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../ebpf-spec/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

#[path = "../tests/common/bpf_raw.rs"]
mod sysraw;

/// bpf(2) on prepared attributes, and the floor built from them.
mod raw {
    use super::*;

    use crate::sysraw::{bpf, fd, zeroed};

    /// One map: its create attributes and the single value to write (data
    /// sections), prepared.
    pub struct Map {
        name: String,
        create: bpf_attr,
        value: Option<Vec<u8>>,
        freeze: bool,
    }

    /// One program: its load attributes (pointers filled at load time) and
    /// the instructions whose `imm` takes a map's fd.
    pub struct Prog {
        prog_type: u32,
        attach: u32,
        flags: u32,
        insns: Vec<Instruction>,
        sites: Vec<(usize, usize)>,
        license: CString,
        name: [libc::c_char; 16],
        func_info: Vec<[u32; 2]>,
        line_info: Vec<[u32; 4]>,
    }

    /// Everything the collection needs, prepared once; the object's BTF is
    /// loaded once here, as the loader's cache does.
    pub struct Floor {
        btf: Option<OwnedFd>,
        maps: Vec<Map>,
        progs: Vec<Prog>,
    }

    impl Floor {
        /// Prepares the calls the loader makes for a spec of maps without
        /// inner maps or pins and programs without sub-programs: the same
        /// attributes (BTF ids, `BPF_F_MMAPABLE` on data sections,
        /// func_info and line_info), on prepared buffers.
        pub fn new(spec: &CollectionSpec) -> Floor {
            let btf = spec.btf.as_ref().map(|b| {
                let mut a = zeroed();
                a.__bindgen_anon_7.btf = b.btf.as_ptr() as u64;
                a.__bindgen_anon_7.btf_size = b.btf.len() as u32;
                fd(bpf(bpf_cmd::BPF_BTF_LOAD, &mut a).expect("BTF_LOAD"))
            });
            let btf_fd = btf.as_ref().map(|f| f.as_raw_fd() as u32);
            let names: Vec<&ebpf_spec::Name> = spec.maps.keys().collect();
            let maps = spec
                .maps
                .values()
                .map(|m| {
                    assert!(m.inner_map.is_none(), "{}", m.name);
                    let mut create = zeroed();
                    // SAFETY: plain integer fields of the map-create member.
                    let u = unsafe { &mut create.__bindgen_anon_1 };
                    u.map_type = m.map_type.raw();
                    u.key_size = m.key_size;
                    u.value_size = m.value_size;
                    u.max_entries = m.max_entries;
                    u.map_flags = m.flags.bits();
                    if m.is_global_data() {
                        u.map_flags |= MapFlags::MMAPABLE.bits();
                    }
                    if let Some(btf) = btf_fd
                        .filter(|_| m.btf_value_type_id != 0 && m.map_type.accepts_btf_types())
                    {
                        u.btf_fd = btf;
                        u.btf_key_type_id = m.btf_key_type_id;
                        u.btf_value_type_id = m.btf_value_type_id;
                    }
                    for (d, s) in u.map_name.iter_mut().zip(m.name.bytes().take(15)) {
                        *d = s as libc::c_char;
                    }
                    let value = m.contents.first().map(|e| match &e.value {
                        MapValue::Bytes(v) => v.clone(),
                        other => panic!("{}: {other:?}", m.name),
                    });
                    Map {
                        name: m.name.to_string(),
                        create,
                        value,
                        freeze: m.freeze,
                    }
                })
                .collect();
            let progs = spec
                .programs
                .values()
                .map(|p| {
                    let mut insns = p.instructions.clone();
                    let mut sites = Vec::new();
                    let kconfig = ebpf_spec::Name::from(".kconfig");
                    for r in &p.relocations {
                        let (map, src, off) = match &r.target {
                            RelocationTarget::Map { map } => (map, 1, None),
                            RelocationTarget::Data { map, offset } => (map, 2, Some(*offset)),
                            RelocationTarget::Extern { name, .. } => {
                                (&kconfig, 2, Some(spec.variables[name].offset))
                            }
                            other => panic!("{}: {other:?}", p.name),
                        };
                        let i = r.instruction;
                        let dst = insns[i].dst_reg();
                        insns[i].set_regs(dst, src);
                        if let Some(off) = off {
                            insns[i + 1].imm += off as i32 + insns[i].imm;
                        }
                        sites.push((i, names.iter().position(|n| *n == map).unwrap()));
                    }
                    let mut name = [0; 16];
                    for (d, s) in name.iter_mut().zip(p.name.bytes().take(15)) {
                        *d = s as libc::c_char;
                    }
                    Prog {
                        prog_type: p.program_type.raw(),
                        attach: p.attach_type.map_or(0, |a| a.raw()),
                        flags: if p.sleepable { 1 << 4 } else { 0 },
                        insns,
                        sites,
                        license: CString::new(p.license.as_str()).unwrap(),
                        name,
                        func_info: p
                            .func_info
                            .iter()
                            .map(|f| [f.instruction as u32, f.type_id])
                            .collect(),
                        line_info: p
                            .line_info
                            .iter()
                            .map(|l| {
                                [
                                    l.instruction as u32,
                                    l.file_name_off,
                                    l.line_off,
                                    l.line_col,
                                ]
                            })
                            .collect(),
                    }
                })
                .collect();
            Floor { btf, maps, progs }
        }

        /// The calls: create every map and write its value (freeze data
        /// sections that ask for it), load every program; returns the fds.
        pub fn run(&self, insns: &mut Vec<Instruction>) -> Vec<OwnedFd> {
            let mut fds = Vec::with_capacity(self.maps.len() + self.progs.len());
            for m in &self.maps {
                let mut a = m.create;
                let map = fd(bpf(bpf_cmd::BPF_MAP_CREATE, &mut a).expect(&m.name));
                if let Some(v) = &m.value {
                    let key = 0u32;
                    let mut a = zeroed();
                    // SAFETY: plain fields of the element member; `key` and
                    // `v` outlive the call.
                    let u = unsafe { &mut a.__bindgen_anon_2 };
                    u.map_fd = map.as_raw_fd() as u32;
                    u.key = &key as *const u32 as u64;
                    u.__bindgen_anon_1.value = v.as_ptr() as u64;
                    bpf(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut a).expect("update");
                }
                if m.freeze {
                    let mut a = zeroed();
                    a.__bindgen_anon_2.map_fd = map.as_raw_fd() as u32;
                    bpf(bpf_cmd::BPF_MAP_FREEZE, &mut a).expect("freeze");
                }
                fds.push(map);
            }
            for p in &self.progs {
                insns.clear();
                insns.extend_from_slice(&p.insns);
                for &(i, m) in &p.sites {
                    insns[i].imm = fds[m].as_raw_fd();
                }
                let mut a = zeroed();
                // SAFETY: plain fields of the prog-load member; the
                // instructions and license outlive the call.
                let u = unsafe { &mut a.__bindgen_anon_3 };
                u.prog_type = p.prog_type;
                u.expected_attach_type = p.attach;
                u.insns = insns.as_bytes().as_ptr() as u64;
                u.insn_cnt = insns.len() as u32;
                u.license = p.license.as_ptr() as u64;
                u.prog_name = p.name;
                u.prog_flags = p.flags;
                if let Some(btf) = &self.btf {
                    u.prog_btf_fd = btf.as_raw_fd() as u32;
                    if !p.func_info.is_empty() {
                        u.func_info_rec_size = 8;
                        u.func_info = p.func_info.as_ptr() as u64;
                        u.func_info_cnt = p.func_info.len() as u32;
                    }
                    if !p.line_info.is_empty() {
                        u.line_info_rec_size = 16;
                        u.line_info = p.line_info.as_ptr() as u64;
                        u.line_info_cnt = p.line_info.len() as u32;
                    }
                }
                fds.push(fd(bpf(bpf_cmd::BPF_PROG_LOAD, &mut a).expect("prog load")));
            }
            fds
        }
    }
}

/// `bpf_object__open_mem(buf, size, opts)`.
type OpenMem = unsafe extern "C" fn(*const c_void, usize, *const c_void) -> *mut c_void;
/// `bpf_object__load(obj)`.
type Load = unsafe extern "C" fn(*mut c_void) -> libc::c_int;
/// `bpf_object__close(obj)`.
type Close = unsafe extern "C" fn(*mut c_void);
/// `libbpf_set_print(fn)`.
type SetPrint = unsafe extern "C" fn(*const c_void) -> *const c_void;

/// libbpf, opened at run time from Debian's package (`libbpf1`).
struct Libbpf {
    open_mem: OpenMem,
    load: Load,
    close: Close,
}

impl Libbpf {
    fn open() -> Result<Libbpf, String> {
        // SAFETY: dlopen/dlsym with NUL-terminated names; the library stays
        // loaded for the process (never dlclose'd), so the function
        // pointers stay valid, and their types are libbpf 1.x's.
        unsafe {
            let lib = libc::dlopen(c"libbpf.so.1".as_ptr(), libc::RTLD_NOW);
            if lib.is_null() {
                return Err("libbpf.so.1 not found (apt-get install libbpf1)".into());
            }
            let sym = |name: &std::ffi::CStr| {
                let f = libc::dlsym(lib, name.as_ptr());
                if f.is_null() {
                    Err(format!("libbpf.so.1 has no {name:?}"))
                } else {
                    Ok(f)
                }
            };
            // libbpf prints warnings through a callback: silence it.
            let set_print = std::mem::transmute::<*mut c_void, SetPrint>(sym(c"libbpf_set_print")?);
            set_print(std::ptr::null());
            Ok(Libbpf {
                open_mem: std::mem::transmute::<*mut c_void, OpenMem>(sym(
                    c"bpf_object__open_mem",
                )?),
                load: std::mem::transmute::<*mut c_void, Load>(sym(c"bpf_object__load")?),
                close: std::mem::transmute::<*mut c_void, Close>(sym(c"bpf_object__close")?),
            })
        }
    }

    /// Opens and loads the object, then closes it (maps and programs).
    fn load_and_close(&self, bytes: &[u8]) -> Result<(), String> {
        // SAFETY: `bytes` outlives the object (libbpf copies what it keeps),
        // NULL options are allowed, and the object is closed exactly once.
        unsafe {
            let obj = (self.open_mem)(bytes.as_ptr().cast(), bytes.len(), std::ptr::null());
            if obj.is_null() {
                return Err(format!("open_mem: {}", std::io::Error::last_os_error()));
            }
            let ret = (self.load)(obj);
            (self.close)(obj);
            if ret != 0 {
                return Err(format!("load: {}", std::io::Error::from_raw_os_error(-ret)));
            }
        }
        Ok(())
    }
}

/// aya at its best: one `EbpfLoader` and the kernel's BTF parsed once; its
/// `load` creates the maps, then every program is loaded.
fn aya_load(loader: &mut aya::EbpfLoader<'_>, bytes: &[u8]) -> Result<aya::Ebpf, String> {
    use aya::programs::Program;
    let mut ebpf = loader.load(bytes).map_err(|e| e.to_string())?;
    for (name, p) in ebpf.programs_mut() {
        let r = match p {
            Program::Xdp(p) => p.load(),
            Program::SocketFilter(p) => p.load(),
            Program::SchedClassifier(p) => p.load(),
            other => return Err(format!("{name}: {other:?} is not covered by this bench")),
        };
        r.map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(ebpf)
}

fn programs(c: &mut Criterion) {
    let libbpf = Libbpf::open();
    if let Err(e) = &libbpf {
        eprintln!("skipping the libbpf cases: {e}");
    }
    let btf = aya::Btf::from_sys_fs().expect("the kernel's BTF");
    let mut aya_loader = aya::EbpfLoader::new();
    aya_loader
        .btf(Some(&btf))
        .verifier_log_level(aya::VerifierLogLevel::DISABLE);

    for (label, path) in OBJECTS {
        let bytes = fixture(path);
        let spec = CollectionSpec::from_elf(&bytes).unwrap();
        let floor = raw::Floor::new(&spec);
        let mut insns = Vec::new();
        let mut g = c.benchmark_group(*label);
        g.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));

        drop(floor.run(&mut insns));
        g.bench_function("floor_raw_syscalls", |b| {
            b.iter(|| drop(black_box(floor.run(&mut insns))))
        });

        let loader = Loader::new();
        let first = loader.load(&spec).unwrap();
        assert_eq!(first.program_names().count(), spec.programs.len());
        drop(first);
        g.bench_function("load", |b| {
            b.iter(|| drop(black_box(loader.load(black_box(&spec)).unwrap())))
        });

        match aya_load(&mut aya_loader, &bytes) {
            Ok(first) => {
                drop(first);
                g.bench_function("aya_ebpfloader", |b| {
                    b.iter(|| drop(black_box(aya_load(&mut aya_loader, &bytes).unwrap())))
                });
            }
            Err(e) => eprintln!("{label}: aya cannot load it: {e}"),
        }

        if let Ok(libbpf) = &libbpf {
            match libbpf.load_and_close(&bytes) {
                Ok(()) => {
                    g.bench_function("libbpf_open_mem_load", |b| {
                        b.iter(|| libbpf.load_and_close(black_box(&bytes)).unwrap())
                    });
                }
                Err(e) => eprintln!("{label}: libbpf cannot load it: {e}"),
            }
        }

        // Per collection, from `load_many` of 16 (throughput in collections).
        g.throughput(Throughput::Elements(MANY as u64));
        for threads in [1, 2] {
            let loader = Loader::new().threads(threads);
            g.bench_function(format!("load_many_{MANY}_{threads}_threads"), |b| {
                b.iter(|| drop(black_box(loader.load_many(black_box(&spec), MANY).unwrap())))
            });
        }
        // The same 16 collections from 16 copies of the spec (as tenants with
        // settings of their own): each copy is linked on its own.
        let copies: Vec<CollectionSpec> = (0..MANY).map(|_| spec.copy()).collect();
        for threads in [1, 2] {
            let loader = Loader::new().threads(threads);
            g.bench_function(format!("load_all_{MANY}_{threads}_threads"), |b| {
                b.iter(|| drop(black_box(loader.load_all(black_box(&copies)).unwrap())))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, programs);
criterion_main!(benches);
