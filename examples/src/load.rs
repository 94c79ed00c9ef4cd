//! `ebpf-examples load`: load many independent instances of an object (its
//! maps, then its programs) at once with ebpf-loader, and say how long it took.
//!
//! The object is parsed once; `Loader::load_many` then gives every instance its
//! own deep copy of the spec, its own kernel maps (maps pinned by name under
//! `--pin` are shared through their pins) and its own programs. All instances
//! stay alive until the output is printed. `--maps-only` creates the maps
//! alone (prog-array slots that name programs then stay empty).
//!
//! `--json` prints one line with these keys in this order:
//!
//! ```text
//! {"instances":N,"threads":N,"maps_per_instance":N,"kernel_maps":N,
//!  "seconds":F,"maps_per_second":F,"us_per_instance":F,"programs_per_instance":N}
//! ```
//!
//! `seconds` is the `load_many` call alone; `kernel_maps` counts the distinct
//! kernel maps the instances hold (by kernel map id, so a pinned map shared by
//! every instance counts once); `maps_per_second` is `kernel_maps / seconds`;
//! `programs_per_instance` is 0 with `--maps-only`.

use crate::inspect::{Align, Table, one_line};
use crate::progress;
use aya::maps::MapData;
use ebpf_loader::{Collection, LoadError, Loader};
use ebpf_spec::{CollectionSpec, MapSpec, MapType, MapValue};
use serde::Serialize;
use std::collections::HashSet;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// File descriptors beyond one per map: stdio, the BTF cache, inner-map
/// templates in flight (one per thread at most, added separately), aya's
/// duplicates while reading map ids.
const FD_MARGIN: u64 = 64;

/// `errno` for "operation not permitted".
const EPERM: i32 = 1;

/// Options of `load`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example: ebpf-examples load --instances 1000 --threads 2 --json")]
pub struct Args {
    /// The compiled eBPF object (ELF) to load; without it, the object embedded
    /// in this binary (examples/bpf/default.bpf.c).
    file: Option<PathBuf>,
    /// How many independent instances of the object to create.
    #[arg(long, default_value_t = 64, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    instances: u32,
    /// How many threads create them [default: all cores].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Pin maps that ask for it (pinning by name) under DIR, which must be on
    /// a bpffs; existing compatible pins are reused.
    #[arg(long, value_name = "DIR")]
    pin: Option<PathBuf>,
    /// Create the maps only, not the programs (prog-array slots stay empty).
    #[arg(long)]
    maps_only: bool,
    /// Print one line of JSON (the summary) instead of the table.
    #[arg(long)]
    json: bool,
}

/// The `--json` output; the field order is the schema's.
#[derive(Serialize, Debug)]
struct Summary {
    instances: usize,
    threads: usize,
    maps_per_instance: usize,
    kernel_maps: usize,
    seconds: f64,
    maps_per_second: f64,
    us_per_instance: f64,
    programs_per_instance: usize,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let (spec, source) = crate::inspect::spec_of(args.file.as_deref())?;
    let instances = args.instances as usize;
    let threads = match args.threads {
        Some(t) => usize::from(t),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    // Maps whose autocreate is false (libbpf's optional `?.struct_ops`) are
    // not created.
    let maps_per_instance = spec.maps.values().filter(|m| m.autocreate).count();
    let programs_per_instance = if args.maps_only {
        0
    } else {
        spec.programs.len()
    };

    let needed = (instances as u64)
        .saturating_mul((maps_per_instance + programs_per_instance) as u64)
        .saturating_add(FD_MARGIN)
        .saturating_add(threads as u64);
    if let Some((from, to)) =
        ensure_fd_limit(needed, instances, maps_per_instance, programs_per_instance)?
    {
        eprintln!(
            "note: raised the soft open-file limit (RLIMIT_NOFILE) from {from} to {to}: \
             {instances} instances of {maps_per_instance} maps and {programs_per_instance} programs \
             need about {needed} file descriptors"
        );
    }

    let mut loader = Loader::new().threads(threads).maps_only(args.maps_only);
    if let Some(dir) = &args.pin {
        loader = loader.pin_path(dir);
    }
    // One call does all the work: a spinner (on a terminal only) while it runs.
    let what = if args.maps_only {
        "maps"
    } else {
        "maps and programs"
    };
    let spinner = progress::spinner(format!(
        "loading {instances} instances ({what}) on {threads} threads"
    ));
    let start = Instant::now();
    let loaded = loader.load_many(&spec, instances);
    let seconds = start.elapsed().as_secs_f64();
    let collections = match loaded {
        Ok(c) => c,
        Err(e) => {
            spinner.finish_and_clear();
            return Err(load_error(e));
        }
    };

    spinner.set_message(format!("reading the ids of {instances} instances' maps"));
    let kernel_maps = count_kernel_maps(&collections);
    spinner.finish_and_clear();
    let kernel_maps = kernel_maps?;
    let rate = |n: f64| if seconds > 0.0 { n / seconds } else { 0.0 };
    // What an instance holds, counted on one (the counts above, for the fd
    // limit, are upper bounds: programs whose autoload is false are not
    // loaded).
    let (maps_per_instance, programs_per_instance) = collections
        .first()
        .map_or((maps_per_instance, programs_per_instance), |c| {
            (c.len(), c.program_names().count())
        });
    let summary = Summary {
        instances,
        threads,
        maps_per_instance,
        kernel_maps,
        seconds,
        maps_per_second: rate(kernel_maps as f64),
        us_per_instance: seconds * 1e6 / instances as f64,
        programs_per_instance,
    };

    if args.json {
        if let Some(refused) = collections.first().and_then(Collection::btf_refused) {
            eprintln!("warning: {}", one_line(refused));
        }
        outln!("{}", serde_json::to_string(&summary).map_err(one_line)?);
    } else {
        print_report(args, &spec, &source, &collections, &summary)?;
    }
    // The instances lived until everything was printed; now close them all.
    drop(collections);
    Ok(ExitCode::SUCCESS)
}

/// One line for a failed load. EPERM gets the privilege advice when bpf(2)
/// is not permitted at all (a 1-entry array cannot be created either); when
/// it is, the loader's own hint says what is missing: a capability some
/// program types need, or nothing (the kernel refuses the program itself).
pub(crate) fn load_error(err: LoadError) -> String {
    if !is_eperm(&err) {
        return one_line(&err);
    }
    let probe = MapSpec::new("eperm_probe", MapType::Array, 4, 4, 1);
    if Loader::new().create_map(&probe).is_ok() {
        // Permitted: the loader's hint says what is missing.
        one_line(&err)
    } else {
        format!(
            "loading needs bpf(2): run as root or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON ({})",
            one_line(&err)
        )
    }
}

/// Whether bpf(2) said "operation not permitted": `LoadError::errno`, or an
/// OS error anywhere in the source chain (errno does not cover every variant,
/// e.g. a refused BTF load).
pub(crate) fn is_eperm(err: &LoadError) -> bool {
    if err.errno() == Some(EPERM) {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.raw_os_error() == Some(EPERM)
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// The kernel's id of the map behind `fd`.
fn kernel_id(fd: BorrowedFd<'_>) -> Result<u32, String> {
    let owned = fd.try_clone_to_owned().map_err(one_line)?;
    let data = MapData::from_fd(owned).map_err(one_line)?;
    Ok(data.info().map_err(one_line)?.id())
}

/// The distinct kernel maps all instances hold.
fn count_kernel_maps(collections: &[Collection]) -> Result<usize, String> {
    let mut ids = HashSet::new();
    for c in collections {
        for name in c.map_names() {
            let fd = c
                .map_fd(name)
                .ok_or_else(|| format!("map `{name}` vanished"))?;
            ids.insert(kernel_id(fd)?);
        }
    }
    Ok(ids.len())
}

fn print_report(
    args: &Args,
    spec: &CollectionSpec,
    source: &str,
    collections: &[Collection],
    s: &Summary,
) -> Result<(), String> {
    outln!("object: {source}");
    let first = &collections[0];
    if let Some(refused) = first.btf_refused() {
        outln!("BTF: {}", one_line(refused));
    }
    if args.maps_only {
        outln!("programs: not loaded (--maps-only)");
        let empty_slots: Vec<&str> = spec
            .maps
            .values()
            .filter(|m| {
                m.contents
                    .iter()
                    .any(|e| matches!(e.value, MapValue::Program(_)))
            })
            .map(|m| m.name.as_str())
            .collect();
        if !empty_slots.is_empty() {
            outln!(
                "prog-array slots: left empty in {} (they need programs)",
                empty_slots.join(", ")
            );
        }
    }
    outln!();

    let mut headers = vec![
        ("NAME", Align::Left),
        ("TYPE", Align::Left),
        ("KEY", Align::Right),
        ("VALUE", Align::Right),
        ("MAX", Align::Right),
        ("ID", Align::Right),
    ];
    if args.pin.is_some() {
        headers.push(("PIN", Align::Left));
    }
    outln!("maps of instance 0 ({}):", s.maps_per_instance);
    let mut table = Table::new(&headers);
    for m in spec.maps.values().filter(|m| m.autocreate) {
        let fd = first
            .map_fd(&m.name)
            .ok_or_else(|| format!("instance 0 has no map `{}`", m.name))?;
        let mut row = vec![
            m.name.to_string(),
            m.map_type.to_string(),
            m.key_size.to_string(),
            m.value_size.to_string(),
            m.max_entries.to_string(),
            kernel_id(fd)?.to_string(),
        ];
        if let Some(dir) = &args.pin {
            let pin = dir.join(&m.name);
            row.push(if first.pins_created().contains(&pin) {
                "created".to_owned()
            } else if first.pins_reused().contains(&pin) {
                "reused".to_owned()
            } else {
                "-".to_owned()
            });
        }
        table.row(row);
    }
    table.print();
    // Arenas: where this process sees instance 0's (a pinned or replaced
    // one is shared; the others are each instance's own).
    for m in spec
        .maps
        .values()
        .filter(|m| m.autocreate && m.map_type == ebpf_spec::MapType::Arena)
    {
        let Some(arena) = first.arena(&m.name) else {
            outln!(
                "arena `{}` of instance 0: not mapped in this process (reused, mapped by \
                 another process where it chose)",
                m.name
            );
            continue;
        };
        let globals = arena.globals();
        let globals = if globals.is_empty() {
            "no __arena globals".to_owned()
        } else {
            format!(
                "__arena globals at offsets {}..{}",
                globals.start, globals.end
            )
        };
        outln!(
            "arena `{}` of instance 0: {} bytes mapped at {:p}, {globals}",
            m.name,
            arena.len(),
            arena.as_ptr()
        );
    }
    outln!();

    if !args.maps_only {
        let loaded: Vec<&str> = first.program_names().collect();
        outln!("programs of instance 0 ({}):", loaded.len());
        let mut table = Table::new(&[
            ("NAME", Align::Left),
            ("TYPE", Align::Left),
            ("TAG", Align::Left),
            ("INSNS", Align::Right),
            ("VERIFIED", Align::Right),
            ("ID", Align::Right),
        ]);
        for name in &loaded {
            let info = first
                .program_info(name)
                .ok_or_else(|| format!("instance 0 has no program `{name}`"))?;
            table.row(vec![
                (*name).to_owned(),
                info.program_type.to_string(),
                info.tag_hex(),
                info.instructions.to_string(),
                info.verified_instructions.to_string(),
                info.id.to_string(),
            ]);
        }
        table.print();
        outln!();
    }

    if let Some(dir) = &args.pin {
        let created: usize = collections.iter().map(|c| c.pins_created().len()).sum();
        let reused: usize = collections.iter().map(|c| c.pins_reused().len()).sum();
        outln!(
            "pins under {}: {created} created, {reused} reused",
            dir.display()
        );
    }
    outln!(
        "{} instances on {} threads: {} maps and {} programs per instance, {} kernel maps \
         in total, loaded in {:.6} s ({:.0} maps/s, {:.1} µs per instance)",
        s.instances,
        s.threads,
        s.maps_per_instance,
        s.programs_per_instance,
        s.kernel_maps,
        s.seconds,
        s.maps_per_second,
        s.us_per_instance
    );
    Ok(())
}

/// Makes room for `needed` open file descriptors: raises the soft
/// RLIMIT_NOFILE to the hard limit if it is lower than `needed`. Returns the
/// old and new soft limits when it raised it; fails when even the hard limit
/// is too low.
pub(crate) fn ensure_fd_limit(
    needed: u64,
    instances: usize,
    maps: usize,
    programs: usize,
) -> Result<Option<(libc::rlim_t, libc::rlim_t)>, String> {
    let needed = needed as libc::rlim_t;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `struct rlimit` through the pointer, which
    // points at a live, aligned local of that type.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!(
            "cannot read the open-file limit: {}",
            std::io::Error::last_os_error()
        ));
    }
    let infinite = libc::RLIM_INFINITY;
    if limit.rlim_cur == infinite || limit.rlim_cur >= needed {
        return Ok(None);
    }
    if limit.rlim_max != infinite && limit.rlim_max < needed {
        return Err(format!(
            "{instances} instances of {maps} maps and {programs} programs need about {needed} file descriptors, \
             but the hard open-file limit (RLIMIT_NOFILE) is {}: use fewer --instances \
             or raise the hard limit",
            limit.rlim_max
        ));
    }
    let raised = libc::rlimit {
        rlim_cur: if limit.rlim_max == infinite {
            needed
        } else {
            limit.rlim_max
        },
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit only reads one `struct rlimit` through the pointer,
    // which points at a live, initialised local of that type.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(format!(
            "cannot raise the open-file limit from {} to {}: {}",
            limit.rlim_cur,
            raised.rlim_cur,
            std::io::Error::last_os_error()
        ));
    }
    Ok(Some((limit.rlim_cur, raised.rlim_cur)))
}
