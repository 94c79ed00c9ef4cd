//! `__ksym` externs against the real kernel: kfunc calls, `bpf_ksym_exists()`,
//! typeless and typed kernel variables, and weak externs the kernel lacks,
//! resolved by the loader and run with `BPF_PROG_TEST_RUN`.

mod common;

use aya::maps::{Array, MapData};
use common::{fixture, kernel, open_fds};
use ebpf_loader::{Collection, LoadError, Loader, Step};
use ebpf_spec::{CollectionSpec, RelocationTarget};

/// A packet whose first word the program reads through a dynptr.
fn packet() -> [u8; 64] {
    let mut p = [0u8; 64];
    p[..4].copy_from_slice(&[0x11, 0x22, 0x33, 0x44]);
    p
}

/// The fixture with only program `keep`.
fn only(keep: &str) -> CollectionSpec {
    let mut spec = fixture("ksyms/ksyms.bpfel.o");
    spec.programs.retain(|name, _| name == keep);
    assert_eq!(spec.programs.len(), 1, "the fixture has `{keep}`");
    spec
}

/// The bytes of data section `section` of a loaded collection (its map
/// handed over: once per section).
fn section<const N: usize>(coll: &mut Collection, spec: &CollectionSpec, section: &str) -> [u8; N] {
    assert_eq!(spec.maps[section].value_size as usize, N, "{section}");
    let map: Array<MapData, [u8; N]> = coll.take_map(section).unwrap().unwrap().try_into().unwrap();
    map.get(&0, 0).unwrap()
}

/// Variable `name`'s bytes in `bytes`, its section.
fn var<'b>(bytes: &'b [u8], spec: &CollectionSpec, name: &str) -> &'b [u8] {
    &bytes[spec.variables[name].range()]
}

/// The address of `name` in /proc/kallsyms, read here independently of the
/// loader.
fn kallsyms(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap();
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 3 && f[2] == name).then(|| u64::from_str_radix(f[0], 16).unwrap())
    })
}

/// The step, explanation and verifier log of a program the kernel refused
/// (inside the `Instance` wrapper when there is one).
fn refused_program(e: &LoadError) -> (&Step, &String, &Option<ebpf_loader::VerifierLog>) {
    let inner = match e {
        LoadError::Instance { source, .. } => source.as_ref(),
        other => other,
    };
    let LoadError::Program {
        step, what, log, ..
    } = inner
    else {
        panic!("not a program error: {e}")
    };
    (step, what, log)
}

#[test]
fn kfuncs_typeless_and_weak_ksyms_resolve_and_run() {
    let Some(_serial) = kernel() else { return };
    let spec = only("xdp_ksyms");
    let externs: Vec<(&str, bool)> = spec.programs["xdp_ksyms"]
        .relocations
        .iter()
        .filter_map(|r| match &r.target {
            RelocationTarget::Extern { name, weak } => Some((name.as_str(), *weak)),
            _ => None,
        })
        .collect();
    for (name, weak) in [
        ("bpf_rcu_read_lock", false),
        ("bpf_dynptr_from_xdp", false),
        ("bpf_prog_put", false),
        ("bpf_no_such_kfunc___ebpf_spec", true),
        ("no_such_ksym___ebpf_spec", true),
    ] {
        assert!(externs.contains(&(name, weak)), "{name} in {externs:?}");
    }

    let fds = open_fds();
    {
        let mut coll = Loader::new().load(&spec).unwrap();
        let run = coll.test_run("xdp_ksyms", &packet(), 1).unwrap().unwrap();
        assert_eq!(run.retval, 2, "XDP_PASS");

        // bpf_dynptr_from_xdp (a kfunc) gave the packet to dynptr_read.
        let bss = section::<16>(&mut coll, &spec, ".bss");
        let data = section::<8>(&mut coll, &spec, ".data");
        assert_eq!(var(&bss, &spec, "out_first_word"), &packet()[..4]);
        // The typeless ksym holds the address /proc/kallsyms lists.
        let addr = var(&bss, &spec, "out_addr");
        let expected = kallsyms("bpf_prog_put").expect("bpf_prog_put is in kallsyms");
        assert_ne!(expected, 0, "kallsyms shows addresses to root");
        assert_eq!(u64::from_ne_bytes(addr.try_into().unwrap()), expected);
        // 1: the weak variable's address is 0; 2: the weak kfunc does not
        // exist (its guarded call was never reached); 4: bpf_rcu_read_lock
        // does exist (bpf_ksym_exists() of a kfunc, by BTF id).
        let weak = var(&data, &spec, "out_weak");
        assert_eq!(u32::from_ne_bytes(weak.try_into().unwrap()), 1 | 2 | 4);
    }
    assert_eq!(open_fds(), fds, "no fd left behind");
}

#[test]
fn a_typed_ksym_reads_the_kernels_variable_where_the_kernel_can_find_it() {
    let Some(_serial) = kernel() else { return };
    let mut spec = only("xdp_typed_ksym");
    let cpus = Loader::new().possible_cpus().unwrap();
    let cpu = cpus.min(2) - 1;
    spec.set_variable("target_cpu", &cpu.to_ne_bytes()).unwrap();
    match Loader::new().load(&spec) {
        Ok(mut coll) => {
            let run = coll
                .test_run("xdp_typed_ksym", &packet(), 1)
                .unwrap()
                .unwrap();
            assert_eq!(run.retval, 2, "XDP_PASS");
            // runqueues of CPU `cpu` says which CPU it belongs to (`rq->cpu`,
            // at the kernel's offset through CO-RE).
            let data = section::<8>(&mut coll, &spec, ".data");
            let got = var(&data, &spec, "out_cpu");
            assert_eq!(i32::from_ne_bytes(got.try_into().unwrap()), cpu as i32);
        }
        Err(e) => {
            // The verifier finds a variable's address with kallsyms, which
            // lists variables only with CONFIG_KALLSYMS_ALL. Our part (the
            // ld_imm64 by BTF id, the CO-RE access) reached the kernel.
            let (step, what, log) = refused_program(&e);
            assert_eq!(*step, Step::LoadProgram, "{e}");
            assert!(what.contains("CONFIG_KALLSYMS_ALL"), "{e}");
            let text = log.as_ref().map(|l| l.text()).unwrap_or_default();
            assert!(
                text.contains("failed to find the address for kernel symbol 'runqueues'"),
                "{e}"
            );
            assert_eq!(
                kallsyms("runqueues"),
                None,
                "the kernel lists `runqueues` yet refused it: {e}"
            );
            eprintln!(
                "note: this kernel has no CONFIG_KALLSYMS_ALL: typed ksyms of variables \
                 cannot load here (libbpf's neither); checked up to the kernel's lookup"
            );
        }
    }
}

#[test]
fn a_missing_ksym_not_declared_weak_is_refused_before_any_syscall() {
    let Some(_serial) = kernel() else { return };
    let mut spec = only("xdp_ksyms");
    for r in &mut spec.programs.get_mut("xdp_ksyms").unwrap().relocations {
        if let RelocationTarget::Extern { name, weak } = &mut r.target
            && name == "bpf_no_such_kfunc___ebpf_spec"
        {
            *weak = false;
        }
    }
    let fds = open_fds();
    let e = Loader::new().load(&spec).unwrap_err();
    let LoadError::Program {
        program,
        step,
        what,
        ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!((program.as_str(), *step), ("xdp_ksyms", Step::Link));
    assert!(what.contains("bpf_no_such_kfunc___ebpf_spec"), "{e}");
    assert!(what.contains("declare it `__weak`"), "{e}");
    assert_eq!(open_fds(), fds);
}

#[test]
fn an_unknown_extern_is_named() {
    let Some(_serial) = kernel() else { return };
    let mut spec = only("xdp_ksyms");
    for r in &mut spec.programs.get_mut("xdp_ksyms").unwrap().relocations {
        if let RelocationTarget::Extern { name, .. } = &mut r.target
            && name == "bpf_prog_put"
        {
            *name = "not_declared_anywhere".into();
        }
    }
    let e = Loader::new().load(&spec).unwrap_err().to_string();
    assert!(e.contains("`not_declared_anywhere`"), "{e}");
    assert!(
        e.contains("neither a `__kconfig` variable nor a `__ksym`"),
        "{e}"
    );
}

/// Renames extern `from` to `to` (as long) in the spec: in its BTF strings
/// and in every relocation; sets whether it is weak.
fn rename(spec: &mut CollectionSpec, from: &str, to: &str, weak: bool) {
    assert_eq!(
        from.len(),
        to.len(),
        "a same-length rename keeps every offset"
    );
    let btf = &mut spec.btf.as_mut().unwrap().btf;
    let needle = format!("{from}\0");
    let at = btf
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("`{from}` in the BTF strings"));
    btf[at..at + to.len()].copy_from_slice(to.as_bytes());
    for p in spec.programs.values_mut() {
        for r in &mut p.relocations {
            if let RelocationTarget::Extern { name, weak: w } = &mut r.target
                && name == from
            {
                *name = to.into();
                *w = weak;
            }
        }
    }
}

#[test]
fn a_typeless_ksym_missing_from_kallsyms_is_zero_if_weak_else_refused() {
    let Some(_serial) = kernel() else { return };
    let mut spec = only("xdp_ksyms");
    rename(&mut spec, "bpf_prog_put", "bpf_prog_pux", false);
    let e = Loader::new().load(&spec).unwrap_err().to_string();
    assert!(
        e.contains("/proc/kallsyms does not list `bpf_prog_pux`"),
        "{e}"
    );
    assert!(e.contains("declare it `__weak`"), "{e}");

    rename(&mut spec, "bpf_prog_pux", "bpf_prog_pux", true);
    let mut coll = Loader::new().load(&spec).unwrap();
    coll.test_run("xdp_ksyms", &packet(), 1).unwrap().unwrap();
    let bss = section::<16>(&mut coll, &spec, ".bss");
    assert_eq!(var(&bss, &spec, "out_addr"), [0; 8]);
}

#[test]
fn a_kfunc_with_another_prototype_is_refused_or_missing_if_weak() {
    let Some(_serial) = kernel() else { return };
    // `bpf_base_func_proto` (as long a name as `bpf_rcu_read_unlock`) is a
    // kernel function of two parameters; the object declares none.
    let mut spec = only("xdp_ksyms");
    rename(
        &mut spec,
        "bpf_rcu_read_unlock",
        "bpf_base_func_proto",
        false,
    );
    let fds = open_fds();
    let e = Loader::new().load(&spec).unwrap_err();
    let LoadError::Program { step, what, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(*step, Step::Link, "refused before any syscall: {e}");
    assert!(
        what.contains("declares `bpf_base_func_proto` as a prototype with 0 parameters")
            && what.contains("is a prototype with 2 parameters"),
        "{e}"
    );

    // Weak: treated as missing (libbpf's rule), so its unguarded call is
    // poisoned, and the verifier, reaching it, names it through the poison.
    rename(
        &mut spec,
        "bpf_base_func_proto",
        "bpf_base_func_proto",
        true,
    );
    let e = Loader::new().load(&spec).unwrap_err();
    let (step, what, log) = refused_program(&e);
    assert_eq!(*step, Step::LoadProgram, "{e}");
    assert!(
        log.as_ref().unwrap().text().contains("unknown#2002000000"),
        "{e}"
    );
    assert!(
        what.contains("goes to a kfunc the kernel lacks")
            && what.contains("weak kfunc `bpf_base_func_proto`"),
        "{e}"
    );
    assert_eq!(open_fds(), fds, "no fd left behind");
}

/// The comparison of each kfunc's prototype with the kernel's draws from the
/// load's CO-RE step budget, as CO-RE relocations do (the program has no
/// CO-RE records: only its `__ksym` externs spend it).
#[test]
fn ksym_type_checks_draw_from_the_step_budget() {
    let Some(_serial) = kernel() else { return };
    let spec = only("xdp_ksyms");
    assert!(spec.programs["xdp_ksyms"].core_relocations.is_empty());
    let fds = open_fds();
    let e = Loader::new().core_step_budget(0).load(&spec).unwrap_err();
    let LoadError::Program { step, what, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(*step, Step::Link, "{e}");
    assert!(what.contains("step budget"), "{e}");
    assert_eq!(open_fds(), fds);
    // A budget the few comparisons fit.
    drop(Loader::new().core_step_budget(10_000).load(&spec).unwrap());
}

/// An extern's type is compared with the kernel's once per spec, however
/// many programs reach its uses (as libbpf resolves an extern once): the
/// smallest step budget that links one caller of a function using the
/// fixture's kfuncs also links eight.
#[test]
fn ksym_type_checks_are_made_once_per_spec() {
    let Some(_serial) = kernel() else { return };
    let build = |callers: usize| {
        let mut spec = only("xdp_ksyms");
        let mut shared = spec.programs.remove("xdp_ksyms").unwrap();
        shared.name = "shared".into();
        shared.func_info.clear();
        shared.line_info.clear();
        let section = shared.section.clone();
        spec.functions.insert("shared".into(), shared);
        for k in 0..callers {
            let name = format!("caller_{k}");
            let p = common::caller(&name, &section, common::call_and_exit(), 0, "shared");
            spec.programs.insert(name.into(), p);
        }
        spec
    };
    // Whether the link step gets through on `budget` (the verifier may still
    // refuse the hand-made callers: that is not the budget's business).
    let links = |spec: &CollectionSpec, budget: u64| match Loader::new()
        .core_step_budget(budget)
        .load(spec)
    {
        Ok(_) => true,
        Err(e) => !e.to_string().contains("step budget"),
    };
    let one = build(1);
    let (mut lo, mut hi) = (0u64, 100_000u64);
    assert!(links(&one, hi));
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if links(&one, mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    assert!(hi > 1, "the kfunc checks take steps ({hi})");
    assert!(
        links(&build(8), hi),
        "8 callers need more than the {hi} steps of one"
    );
}
