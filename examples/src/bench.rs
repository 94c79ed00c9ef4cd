//! `ebpf-examples bench`: parse, copy and load timings of one object, each
//! beside a baseline measured in the same run.
//!
//! Every step runs once (or a few times) to warm up, then `--iterations` timed
//! samples. A sample is the time of one run, or for steps too fast for the
//! clock (a few microseconds and less) the mean of a batch of runs that lasts
//! about [`TARGET_SAMPLE`]. A run of a spec step (clone, parse, copy) makes
//! its value and frees it, as criterion's `iter` times a routine; the kernel
//! objects a load step creates are released after its clock stops (closing
//! fds is not loading). Steps:
//!
//! | step               | what one run does                                               | baseline     |
//! |--------------------|-----------------------------------------------------------------|--------------|
//! | `clone`            | clone the object's bytes into a new `Vec<u8>`                   | (itself)     |
//! | `parse`            | `CollectionSpec::from_elf` on those bytes                       | `clone`      |
//! | `copy`             | `spec.copy()`: a deep copy of the parsed spec                   | `clone`      |
//! | `create_map`       | `Loader::create_map` of a 1-entry ARRAY map (4-byte key, value) | (itself)     |
//! | `load`             | `Loader::load`: one collection, maps and programs               | `create_map` |
//! | `load_maps_only`   | the same with `maps_only(true)`                                 | `create_map` |
//! | `load_many`        | `Loader::load_many(&spec, --instances)`, divided by instances   | `create_map` |
//!
//! The baselines are the floor of what their steps do: parse and copy read or
//! write every byte of the object at least once, so a flat copy of those bytes
//! is the least they could cost; every load step creates kernel maps, and a
//! 1-entry array is the cheapest kernel map there is. A ratio is the step's
//! median over its baseline's median, so it does not depend on how fast this
//! machine is: "parse costs 40 clones of the file", "a collection costs 900
//! bare maps".
//!
//! The load steps share one `Loader` per configuration, as a long-running
//! program would: the object's BTF is loaded into the kernel once (during the
//! warm-up) and reused. They need bpf(2); without the privilege (or with
//! `--no-load`) they are left out with one line saying why.
//!
//! `--json` prints one line with these keys in this order:
//!
//! ```text
//! {"object":S,"object_bytes":N,"maps":N,"programs":N,"debug_build":B,
//!  "iterations":N,"instances":N,"threads":N,"load_skipped":S|null,
//!  "steps":[{"name":S,"baseline":S,"runs_per_sample":N,
//!            "median_ns":F,"p90_ns":F,"min_ns":F,"ratio":F}]}
//! ```
//!
//! `steps` are in the table's order; `name` is one of `clone`, `parse`,
//! `copy`, `create_map`, `load`, `load_maps_only`, `load_many` (the last four
//! only when the load steps ran); `baseline` names the step its `ratio` is
//! relative to (a baseline names itself, ratio 1); times are nanoseconds per
//! run (per collection for `load_many`); `load_skipped` says why the load
//! steps did not run, `null` when they did; `debug_build` is true for an
//! unoptimised binary, whose parse and copy figures are not representative.

use crate::default_object::{DEFAULT_OBJECT, DEFAULT_OBJECT_NAME};
use crate::inspect::{Align, Table, one_line};
use crate::load::{ensure_fd_limit, is_eperm, load_error};
use crate::progress;
use ebpf_loader::Loader;
use ebpf_spec::{CollectionSpec, MapSpec, MapType};
use indicatif::ProgressBar;
use serde::Serialize;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// A batched sample lasts about this long, well above the clock's resolution.
const TARGET_SAMPLE: Duration = Duration::from_micros(20);

/// The most runs one batched sample holds.
const MAX_BATCH: u128 = 10_000;

/// Fast steps warm up for at least this many runs and this long.
const WARM_UP_RUNS: u32 = 3;
const WARM_UP_TIME: Duration = Duration::from_millis(2);

/// Options of `bench`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example: ebpf-examples bench --iterations 200 --instances 16")]
pub struct Args {
    /// The compiled eBPF object (ELF) to time; without it, the object embedded
    /// in this binary (examples/bpf/default.bpf.c).
    file: Option<PathBuf>,
    /// Timed samples per step, after the warm-up. The default takes a few
    /// seconds with the embedded object, most of it in the load steps.
    #[arg(long, short = 'n', default_value_t = 100, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    iterations: u32,
    /// Instances per `load_many` call (its figure is per collection).
    #[arg(long, default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    instances: u32,
    /// Threads of the loader [default: all cores].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Time parse and copy only: no bpf(2) call.
    #[arg(long)]
    no_load: bool,
    /// Print one line of JSON (schema in `--help`) instead of the table.
    #[arg(long)]
    json: bool,
}

/// One measured step: nanoseconds per run, one entry per sample.
struct Step {
    name: &'static str,
    label: String,
    what: String,
    baseline: &'static str,
    runs_per_sample: usize,
    samples: Vec<f64>,
}

impl Step {
    fn sorted(&self) -> Vec<f64> {
        let mut s = self.samples.clone();
        s.sort_by(f64::total_cmp);
        s
    }
    fn median(&self) -> f64 {
        let s = self.sorted();
        let n = s.len();
        if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        }
    }
    /// The nearest-rank 90th percentile.
    fn p90(&self) -> f64 {
        let s = self.sorted();
        let rank = (s.len() * 9).div_ceil(10).max(1);
        s[rank - 1]
    }
    fn min(&self) -> f64 {
        self.samples.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// One step in the `--json` output; the field order is the schema's.
#[derive(Serialize, Debug)]
struct StepOut {
    name: &'static str,
    baseline: &'static str,
    runs_per_sample: usize,
    median_ns: f64,
    p90_ns: f64,
    min_ns: f64,
    ratio: f64,
}

/// The `--json` output; the field order is the schema's.
#[derive(Serialize, Debug)]
struct Output {
    object: String,
    object_bytes: usize,
    maps: usize,
    programs: usize,
    debug_build: bool,
    iterations: u32,
    instances: u32,
    threads: usize,
    load_skipped: Option<String>,
    steps: Vec<StepOut>,
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let (bytes, source) = match &args.file {
        Some(path) => (
            crate::inspect::read_object(path)?,
            path.display().to_string(),
        ),
        None => (DEFAULT_OBJECT.to_vec(), DEFAULT_OBJECT_NAME.to_owned()),
    };
    let spec = crate::inspect::parse_object(&bytes, &source)?;
    let iterations = args.iterations as usize;
    let instances = args.instances as usize;
    let threads = match args.threads {
        Some(t) => usize::from(t),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let maps = spec.maps.len();
    let programs = spec.programs.len();

    // Whether the load steps can run: ask the kernel for the baseline map once.
    let loader = Loader::new().threads(threads);
    let baseline_map = MapSpec::new("bench_baseline", MapType::Array, 4, 4, 1);
    let load_skipped = if args.no_load {
        Some("--no-load".to_owned())
    } else if spec.byte_order != ebpf_spec::ByteOrder::NATIVE {
        Some(format!(
            "the object is {}, this machine is {}: it cannot be loaded here",
            spec.byte_order,
            ebpf_spec::ByteOrder::NATIVE
        ))
    } else {
        match loader.create_map(&baseline_map) {
            Ok(map) => {
                drop(map);
                None
            }
            Err(e) if is_eperm(&e) => Some(
                "bpf(2) is not permitted here: run as root or grant CAP_BPF, CAP_NET_ADMIN and \
                 CAP_PERFMON to time them"
                    .to_owned(),
            ),
            Err(e) => return Err(load_error(e)),
        }
    };
    if load_skipped.is_none() {
        let needed = (instances as u64)
            .saturating_mul((maps + programs) as u64)
            .saturating_add(64 + threads as u64);
        if let Some((from, to)) = ensure_fd_limit(needed, instances, maps, programs)? {
            eprintln!(
                "note: raised the soft open-file limit (RLIMIT_NOFILE) from {from} to {to} \
                 for {instances} instances per load_many call"
            );
        }
    }

    let kernel_steps = if load_skipped.is_none() { 4 } else { 0 };
    let bar = progress::bar(((3 + kernel_steps) * (iterations + 1)) as u64);
    let mut steps = Vec::new();

    bar.set_message("clone");
    let (runs, samples) = time_fast(iterations, &bar, || bytes.clone());
    steps.push(Step {
        name: "clone",
        label: "clone".into(),
        what: format!(
            "baseline: Vec<u8> clone of the object's {} bytes",
            bytes.len()
        ),
        baseline: "clone",
        runs_per_sample: runs,
        samples,
    });

    bar.set_message("parse");
    // The object parsed above, so an error here cannot happen; keep the
    // result anyway rather than unwrap.
    let (runs, samples) = time_fast(iterations, &bar, || CollectionSpec::from_elf(&bytes));
    steps.push(Step {
        name: "parse",
        label: "parse".into(),
        what: "CollectionSpec::from_elf".into(),
        baseline: "clone",
        runs_per_sample: runs,
        samples,
    });

    bar.set_message("copy");
    let (runs, samples) = time_fast(iterations, &bar, || spec.copy());
    steps.push(Step {
        name: "copy",
        label: "copy".into(),
        what: "spec.copy(): a deep copy of the parsed spec".into(),
        baseline: "clone",
        runs_per_sample: runs,
        samples,
    });

    if load_skipped.is_none() {
        bar.set_message("create_map");
        let samples =
            time_slow(iterations, &bar, || loader.create_map(&baseline_map)).map_err(load_error)?;
        steps.push(Step {
            name: "create_map",
            label: "create_map".into(),
            what: "baseline: one 1-entry ARRAY map (Loader::create_map)".into(),
            baseline: "create_map",
            runs_per_sample: 1,
            samples,
        });

        bar.set_message("load");
        // What a load makes, counted on one: maps left out (autocreate false)
        // and programs not loaded (autoload false) are not in the object's
        // counts' place.
        let (loaded_maps, loaded_programs) = {
            let coll = loader.load(&spec).map_err(load_step)?;
            (coll.len(), coll.program_names().count())
        };
        let samples = time_slow(iterations, &bar, || loader.load(&spec)).map_err(load_step)?;
        steps.push(Step {
            name: "load",
            label: "load".into(),
            what: format!("Loader::load: {loaded_maps} maps and {loaded_programs} programs"),
            baseline: "create_map",
            runs_per_sample: 1,
            samples,
        });

        bar.set_message("load --maps-only");
        let maps_only = Loader::new().threads(threads).maps_only(true);
        let samples = time_slow(iterations, &bar, || maps_only.load(&spec)).map_err(load_step)?;
        steps.push(Step {
            name: "load_maps_only",
            label: "load --maps-only".into(),
            what: format!("Loader::load with maps_only(true): {maps} maps"),
            baseline: "create_map",
            runs_per_sample: 1,
            samples,
        });

        bar.set_message("load_many");
        let per_call = time_slow(iterations, &bar, || loader.load_many(&spec, instances))
            .map_err(load_step)?;
        steps.push(Step {
            name: "load_many",
            label: "load_many".into(),
            what: format!(
                "Loader::load_many(&spec, {instances}) on {threads} threads, per collection"
            ),
            baseline: "create_map",
            runs_per_sample: instances,
            samples: per_call
                .into_iter()
                .map(|ns| ns / instances as f64)
                .collect(),
        });
    }
    bar.finish_and_clear();

    let out = Output {
        object: source,
        object_bytes: bytes.len(),
        maps,
        programs,
        debug_build: cfg!(debug_assertions),
        iterations: args.iterations,
        instances: args.instances,
        threads,
        load_skipped,
        steps: steps_out(&steps),
    };
    if args.json {
        outln!("{}", serde_json::to_string(&out).map_err(one_line)?);
    } else {
        let slot_maps = spec
            .maps
            .values()
            .filter(|m| m.map_type.is_map_in_map() && !m.contents.is_empty())
            .count();
        print_table(&out, &steps, slot_maps);
    }
    Ok(ExitCode::SUCCESS)
}

/// A load step that failed: the loader's one line, and the way around it.
fn load_step(err: ebpf_loader::LoadError) -> String {
    format!(
        "{}; use --no-load to time parse and copy only",
        load_error(err)
    )
}

/// Times a fast, infallible step: a warm-up that also measures one run, then
/// `iterations` samples of a batch of runs each (a run makes the value and
/// frees it). Returns the batch size and the nanoseconds per run of every
/// sample.
fn time_fast<T>(
    iterations: usize,
    bar: &ProgressBar,
    mut f: impl FnMut() -> T,
) -> (usize, Vec<f64>) {
    let mut fastest = Duration::MAX;
    let mut runs = 0;
    let warm_up = Instant::now();
    while runs < WARM_UP_RUNS || warm_up.elapsed() < WARM_UP_TIME {
        let start = Instant::now();
        let value = black_box(f());
        fastest = fastest.min(start.elapsed());
        drop(value);
        runs += 1;
    }
    bar.inc(1);

    let batch = (TARGET_SAMPLE.as_nanos() / fastest.as_nanos().max(1)).clamp(1, MAX_BATCH) as usize;
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        for _ in 0..batch {
            // Made and freed: holding a batch of results would time the
            // allocator fetching fresh pages rather than the step.
            drop(black_box(f()));
        }
        samples.push(start.elapsed().as_nanos() as f64 / batch as f64);
        bar.inc(1);
    }
    (batch, samples)
}

/// Times a slow, fallible step (a bpf(2) call or many): one warm-up run, then
/// `iterations` samples of one run each. What a run created is released after
/// its clock stops.
fn time_slow<T, E>(
    iterations: usize,
    bar: &ProgressBar,
    mut f: impl FnMut() -> Result<T, E>,
) -> Result<Vec<f64>, E> {
    drop(f()?);
    bar.inc(1);
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        let value = f()?;
        let elapsed = start.elapsed();
        drop(value);
        samples.push(elapsed.as_nanos() as f64);
        bar.inc(1);
    }
    Ok(samples)
}

fn steps_out(steps: &[Step]) -> Vec<StepOut> {
    steps
        .iter()
        .map(|s| {
            let base = steps
                .iter()
                .find(|b| b.name == s.baseline)
                .map_or(f64::NAN, Step::median);
            let median = s.median();
            StepOut {
                name: s.name,
                baseline: s.baseline,
                runs_per_sample: s.runs_per_sample,
                median_ns: median,
                p90_ns: s.p90(),
                min_ns: s.min(),
                ratio: if base > 0.0 { median / base } else { 0.0 },
            }
        })
        .collect()
}

/// Nanoseconds with three significant digits and a unit.
fn duration(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.decimals$} {unit}")
}

fn ratio(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.2}x")
    } else if r < 100.0 {
        format!("{r:.1}x")
    } else {
        format!("{r:.0}x")
    }
}

/// `slot_maps`: how many map-in-map maps of the object have slots to fill.
fn print_table(out: &Output, steps: &[Step], slot_maps: usize) {
    outln!(
        "object: {}: {} bytes, {} maps, {} programs",
        out.object,
        out.object_bytes,
        out.maps,
        out.programs
    );
    outln!(
        "{} timed samples per step after a warm-up; times are per run (per collection for load_many)",
        out.iterations
    );
    outln!();
    let mut table = Table::new(&[
        ("STEP", Align::Left),
        ("MEDIAN", Align::Right),
        ("P90", Align::Right),
        ("RATIO", Align::Right),
        ("WHAT", Align::Left),
    ]);
    for (s, o) in steps.iter().zip(&out.steps) {
        table.row(vec![
            s.label.clone(),
            duration(o.median_ns),
            duration(o.p90_ns),
            ratio(o.ratio),
            s.what.clone(),
        ]);
    }
    table.print();
    if let Some(why) = &out.load_skipped {
        outln!("  load steps skipped: {why}");
    }
    outln!();
    outln!(
        "RATIO: the step's median over its baseline's, both from this run. parse and copy count in clones"
    );
    outln!(
        "of the object's bytes (the least a step that reads them all can cost); the load steps count in"
    );
    outln!("1-entry ARRAY maps (the cheapest kernel map there is).");
    if slot_maps > 0 && out.load_skipped.is_none() {
        outln!(
            "note: the slots of {slot_maps} map-in-map map(s) are written per collection, and the kernel waits for an"
        );
        outln!(
            "RCU grace period after each such write (milliseconds): that wait dominates load here; load_many"
        );
        outln!("overlaps the waits of its instances.");
    }
    if out.debug_build {
        outln!(
            "note: this is a debug build: build with --release for representative parse and copy figures"
        );
    }
}
