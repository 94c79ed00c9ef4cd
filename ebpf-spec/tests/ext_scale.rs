//! `.BTF.ext` records of objects with many functions: each function gets
//! exactly its own records, in the order of the file, and finding them is
//! not a walk of the whole section per function (which made 40,000
//! functions with 80,000 line_info records take 1.3 s, and grew with the
//! square of the object).
//!
//! `cargo test --release -p ebpf-spec --test ext_scale -- --ignored --nocapture`
//! prints the parse time of the large object (HARDENING.md).

mod btf_support;
mod common;

use btf_support::{BtfBuilder, ExtBuilder};
use common::craft::{Craft, GLOBAL_FUNC, insn};
use ebpf_spec::{ByteOrder, CollectionSpec};
use object::{Endianness, SectionKind};

/// `functions` one-instruction functions in `.text`, and `lines` line_info
/// records spread over them (written in reverse order, so the file's order
/// is not the instructions'), plus one func_info each.
fn object(functions: usize, lines: usize) -> Vec<u8> {
    let endian = Endianness::Little;
    let mut c = Craft::new(endian);
    c.license();
    let code: Vec<u8> = (0..functions)
        .flat_map(|_| insn(endian, 0x95, 0, 0, 0, 0))
        .collect();
    let text = c.section(".text", SectionKind::Text, &code);
    for f in 0..functions {
        c.symbol(&format!("f{f}"), text, 8 * f as u64, 8, GLOBAL_FUNC);
    }
    let mut b = BtfBuilder::new();
    let name = b.str(".text");
    let int = b.int("int", 4, true);
    let proto = b.func_proto(int, &[]);
    let func = b.func("f", proto, 1);
    c.section(".BTF", SectionKind::Other, &b.build(ByteOrder::Little));
    let ext = ExtBuilder {
        func: vec![(
            name,
            (0..functions).map(|f| vec![8 * f as u32, func]).collect(),
        )],
        line: vec![(
            name,
            (0..lines)
                .rev()
                .map(|l| vec![8 * (l % functions) as u32, 0, 0, l as u32])
                .collect(),
        )],
        ..ExtBuilder::default()
    }
    .build(ByteOrder::Little);
    c.section(".BTF.ext", SectionKind::Other, &ext);
    c.write()
}

#[test]
fn each_function_gets_its_own_records_in_file_order() {
    let (functions, lines) = (300, 900);
    let spec = CollectionSpec::from_elf(&object(functions, lines)).unwrap();
    assert_eq!(spec.functions.len(), functions);
    for f in 0..functions {
        let function = &spec.functions[&format!("f{f}")];
        assert_eq!(function.func_info.len(), 1, "f{f}");
        assert_eq!(function.func_info[0].instruction, 0);
        // Lines l with l % functions == f, in the file's (reverse) order.
        let expected: Vec<u32> = (0..lines)
            .rev()
            .filter(|l| l % functions == f)
            .map(|l| l as u32)
            .collect();
        let got: Vec<u32> = function.line_info.iter().map(|l| l.line_col).collect();
        assert_eq!(got, expected, "f{f}");
        assert!(function.line_info.iter().all(|l| l.instruction == 0));
    }
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture, release build"]
fn many_functions_with_many_records_parse_in_linear_time() {
    for (functions, lines) in [(20_000, 40_000), (40_000, 80_000), (80_000, 160_000)] {
        let data = object(functions, lines);
        let start = std::time::Instant::now();
        let spec = CollectionSpec::from_elf(&data).unwrap();
        println!(
            "{functions} functions, {lines} line_info records, {} bytes: parsed in {:?}",
            data.len(),
            start.elapsed()
        );
        assert_eq!(spec.functions.len(), functions);
    }
}
