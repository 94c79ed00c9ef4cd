//! `ebpf-examples inspect`: the maps and programs of an eBPF object, as a table
//! or as JSON.
//!
//! The JSON schema is stable (keys in this order; maps and programs sorted by
//! name):
//!
//! ```text
//! {"maps":[{"name":S,"type":S,"type_id":N,"key_size":N,"value_size":N,
//!           "max_entries":N,"flags":N,"pinning":"none"|"by_name","numa_node":N,
//!           "map_extra":N,"inner_map":MAP|null,"contents":N,"extra":HEX}],
//!  "programs":[{"name":S,"section":S,"type":S,"attach_type":S|null,
//!               "license":S,"instructions":N}]}
//! ```
//!
//! It is built from dedicated structs, not by serialising the spec types, so it
//! does not change when the spec model does.

use crate::default_object::{DEFAULT_OBJECT, DEFAULT_OBJECT_NAME};
use ebpf_spec::{CollectionSpec, MapSpec, ProgramSpec};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `inspect`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example: ebpf-examples inspect ebpf-spec/tests/fixtures/map_in_map.bpfel.o --json"
)]
pub struct Args {
    /// The compiled eBPF object (ELF) to read; without it, the object embedded
    /// in this binary (examples/bpf/default.bpf.c).
    file: Option<PathBuf>,
    /// Print JSON (a stable schema) instead of tables.
    #[arg(long)]
    json: bool,
}

/// One map in the JSON output.
#[derive(Serialize, Debug)]
struct MapOut {
    name: String,
    #[serde(rename = "type")]
    map_type: &'static str,
    type_id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
    pinning: &'static str,
    numa_node: u32,
    map_extra: u64,
    inner_map: Option<Box<MapOut>>,
    contents: usize,
    extra: String,
}

/// One program in the JSON output.
#[derive(Serialize, Debug)]
struct ProgramOut {
    name: String,
    section: String,
    #[serde(rename = "type")]
    program_type: &'static str,
    attach_type: Option<&'static str>,
    license: String,
    instructions: usize,
}

/// The whole JSON output.
#[derive(Serialize, Debug)]
struct Output {
    maps: Vec<MapOut>,
    programs: Vec<ProgramOut>,
}

impl MapOut {
    fn new(m: &MapSpec) -> Self {
        MapOut {
            name: m.name.to_string(),
            map_type: m.map_type.name(),
            type_id: m.map_type.raw(),
            key_size: m.key_size,
            value_size: m.value_size,
            max_entries: m.max_entries,
            flags: m.flags.bits(),
            pinning: m.pinning.name(),
            numa_node: m.numa_node,
            map_extra: m.map_extra,
            inner_map: m
                .inner_map
                .as_deref()
                .map(|inner| Box::new(MapOut::new(inner))),
            contents: m.contents.len(),
            extra: m.extra.to_hex(),
        }
    }
}

impl ProgramOut {
    fn new(p: &ProgramSpec) -> Self {
        ProgramOut {
            name: p.name.to_string(),
            // The ELF section as written: libbpf's `SEC("?...")` (autoload
            // off) keeps its `?`, as in the table.
            section: if p.autoload {
                p.section.to_string()
            } else {
                format!("?{}", p.section)
            },
            program_type: p.program_type.name(),
            attach_type: p.attach_type.map(|a| a.name()),
            license: p.license.to_string(),
            instructions: p.instructions.len(),
        }
    }
}

impl Output {
    fn new(spec: &CollectionSpec) -> Self {
        // The spec's maps are BTreeMaps keyed by name, but sort explicitly: the
        // order is part of the schema, not an accident of the container.
        let mut maps: Vec<MapOut> = spec.maps.values().map(MapOut::new).collect();
        maps.sort_by(|a, b| a.name.cmp(&b.name));
        let mut programs: Vec<ProgramOut> = spec.programs.values().map(ProgramOut::new).collect();
        programs.sort_by(|a, b| a.name.cmp(&b.name));
        Output { maps, programs }
    }
}

pub fn run(args: &Args) -> Result<ExitCode, String> {
    let (spec, source) = spec_of(args.file.as_deref())?;
    let out = Output::new(&spec);
    if args.json {
        let text = serde_json::to_string_pretty(&out).map_err(one_line)?;
        outln!("{text}");
    } else {
        print_tables(&spec, &out, &source);
    }
    Ok(ExitCode::SUCCESS)
}

/// Errors are printed on one line.
pub(crate) fn one_line(err: impl std::fmt::Display) -> String {
    err.to_string().replace(['\n', '\r'], " ")
}

/// The bytes of the object at `path`, or one line saying why not (an I/O
/// error names the path itself; an empty file is said to be one).
pub(crate) fn read_object(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let bytes = ebpf_spec::read_object_file(path).map_err(one_line)?;
    if bytes.is_empty() {
        return Err(format!("{}: an empty file, not an object", path.display()));
    }
    Ok(bytes)
}

/// `from_elf` of the bytes of `source` (a path, or the embedded object's
/// name), its error in one line that names `source`: a command run over
/// many files says which one is wrong.
pub(crate) fn parse_object(bytes: &[u8], source: &str) -> Result<CollectionSpec, String> {
    CollectionSpec::from_elf(bytes).map_err(|e| format!("{source}: {}", one_line(e)))
}

/// The spec of the object at `path` (`Some`), or of the embedded one, with
/// the name to show for it.
pub(crate) fn spec_of(path: Option<&std::path::Path>) -> Result<(CollectionSpec, String), String> {
    match path {
        Some(path) => {
            let source = path.display().to_string();
            Ok((parse_object(&read_object(path)?, &source)?, source))
        }
        None => Ok((
            parse_object(DEFAULT_OBJECT, DEFAULT_OBJECT_NAME)?,
            DEFAULT_OBJECT_NAME.to_owned(),
        )),
    }
}

fn print_tables(spec: &CollectionSpec, out: &Output, source: &str) {
    let order = match spec.byte_order {
        ebpf_spec::ByteOrder::Little => "little-endian",
        ebpf_spec::ByteOrder::Big => "big-endian",
    };
    let license = if spec.license.is_empty() {
        "(none)"
    } else {
        spec.license.as_str()
    };
    outln!("object: {source}");
    outln!("{order}, license \"{license}\"");
    outln!();

    outln!("maps ({}):", out.maps.len());
    let mut maps = Table::new(&[
        ("NAME", Align::Left),
        ("TYPE", Align::Left),
        ("KEY", Align::Right),
        ("VALUE", Align::Right),
        ("MAX", Align::Right),
        ("FLAGS", Align::Right),
        ("PINNING", Align::Left),
        ("INNER MAP", Align::Left),
        ("EXTRA", Align::Left),
        ("CONTENTS", Align::Right),
    ]);
    for m in &out.maps {
        let spec_map = &spec.maps[&m.name];
        maps.row(vec![
            m.name.clone(),
            spec_map.map_type.to_string(),
            m.key_size.to_string(),
            m.value_size.to_string(),
            m.max_entries.to_string(),
            format!("{:#x}", m.flags),
            m.pinning.to_owned(),
            spec_map
                .inner_map
                .as_deref()
                .map_or_else(|| "-".to_owned(), |inner| inner_summary(spec, inner)),
            if m.extra.is_empty() {
                "-".to_owned()
            } else {
                m.extra.clone()
            },
            m.contents.to_string(),
        ]);
    }
    maps.print();
    outln!();

    outln!("programs ({}):", out.programs.len());
    let mut programs = Table::new(&[
        ("NAME", Align::Left),
        ("SECTION", Align::Left),
        ("TYPE", Align::Left),
        ("INSTRUCTIONS", Align::Right),
    ]);
    let mut optional = false;
    for p in &out.programs {
        // libbpf's `SEC("?...")`: shown as written in the object (the
        // section of `ProgramOut` keeps the `?`).
        optional |= !spec.programs[&p.name].autoload;
        programs.row(vec![
            p.name.clone(),
            p.section.clone(),
            spec.programs[&p.name].program_type.to_string(),
            p.instructions.to_string(),
        ]);
    }
    programs.print();
    if optional {
        outln!("(`?`: autoload off, as libbpf's `SEC(\"?...\")`: not loaded unless set)");
    }
    if !spec.functions.is_empty() {
        let functions: Vec<String> = spec
            .functions
            .values()
            .map(|f| format!("{} ({} instructions)", f.name, f.instructions.len()))
            .collect();
        outln!();
        outln!("sub-programs in .text: {}", functions.join(", "));
    }
    if !spec.variables.is_empty() {
        outln!();
        print_variables(spec);
    }
    let externs = externs(spec);
    if !externs.is_empty() {
        outln!();
        outln!("kernel symbols it needs: {}", externs.join(", "));
    }
    for (name, map) in &spec.maps {
        if let Some(ops) = map.struct_ops() {
            let members: Vec<String> = ops
                .programs
                .iter()
                .map(|(member, program)| format!("{member}: {program}"))
                .collect();
            let optional = if map.autocreate {
                ""
            } else {
                " (optional: not created unless its autocreate is set)"
            };
            outln!();
            outln!(
                "struct_ops `{name}`{optional}: a {} of {}",
                ops.type_name,
                members.join(", ")
            );
        }
    }
}

/// The global variables a user sets before loading (`set_variable`): where
/// each lies and its value as the object has it.
fn print_variables(spec: &CollectionSpec) {
    /// Bytes of a value shown; longer ones end with their size.
    const SHOWN: usize = 16;
    outln!("variables ({}):", spec.variables.len());
    let mut table = Table::new(&[
        ("NAME", Align::Left),
        ("SECTION", Align::Left),
        ("OFFSET", Align::Right),
        ("SIZE", Align::Right),
        ("VALUE", Align::Left),
    ]);
    for v in spec.variables.values() {
        let mut value = if v.section == ".kconfig" {
            "(from the running kernel)".to_owned()
        } else {
            let hex: String = v
                .value
                .iter()
                .take(SHOWN)
                .map(|b| format!("{b:02x}"))
                .collect();
            if v.value.len() > SHOWN {
                format!("{hex}... ({} bytes)", v.value.len())
            } else {
                hex
            }
        };
        if v.constant && v.section != ".kconfig" {
            value.push_str(" (constant)");
        }
        // An `__arena` global belongs to its arena map.
        let section = match spec.maps.get(&v.section) {
            Some(m) if m.map_type == ebpf_spec::MapType::Arena => {
                format!("{} (__arena)", v.section)
            }
            _ => v.section.to_string(),
        };
        table.row(vec![
            v.name.to_string(),
            section,
            v.offset.to_string(),
            v.size.to_string(),
            value,
        ]);
    }
    table.print();
}

/// The externs the programs refer to, as `name (kind[, weak])`.
fn externs(spec: &CollectionSpec) -> Vec<String> {
    spec.externs()
        .iter()
        .map(|e| {
            let weak = if e.weak { ", weak" } else { "" };
            format!("{} ({}{weak})", e.name, e.kind)
        })
        .collect()
}

/// The inner map template: the name of the collection's map it was taken from
/// (iproute2's `inner_id`), else its type and sizes.
fn inner_summary(spec: &CollectionSpec, inner: &MapSpec) -> String {
    if spec.maps.contains_key(&inner.name) {
        inner.name.to_string()
    } else {
        format!(
            "{} {}/{} max {}",
            inner.map_type, inner.key_size, inner.value_size, inner.max_entries
        )
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A plain-text table with columns as wide as their widest cell.
pub(crate) struct Table {
    headers: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(headers: &[(&'static str, Align)]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    pub(crate) fn print(&self) {
        if self.rows.is_empty() {
            outln!("  (none)");
            return;
        }
        let widths: Vec<usize> = self
            .headers
            .iter()
            .enumerate()
            .map(|(i, (h, _))| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([h.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let header: Vec<String> = self.headers.iter().map(|(h, _)| (*h).to_owned()).collect();
        for cells in std::iter::once(&header).chain(&self.rows) {
            let line: Vec<String> = cells
                .iter()
                .zip(&self.headers)
                .zip(&widths)
                .map(|((cell, (_, align)), &w)| match align {
                    Align::Left => format!("{cell:<w$}"),
                    Align::Right => format!("{cell:>w$}"),
                })
                .collect();
            outln!("  {}", line.join("  ").trim_end());
        }
    }
}
