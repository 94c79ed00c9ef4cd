//! Property tests: every fixture, mutated at random (bytes overwritten with
//! random or boundary values, bits flipped, ranges zeroed or duplicated, the
//! file truncated) or in its structure (a section header's size, offset, link
//! or info; a symbol's section, value or size; a relocation's offset, symbol
//! or type; BTF header fields and type records, all set to boundary values),
//! must parse to `Ok` or a `ParseError`: never a panic, never an allocation
//! out of proportion to the input. An `Ok` spec must copy deeply.
//!
//! Bounded to a few seconds in a debug build; raise `PROPTEST_CASES` to fuzz
//! longer (`PROPTEST_CASES=20000 cargo test --release --test proptest_elf`).

mod common;

use common::{
    BtfHeader, BtfLayout, BtfType, Counting, FIXTURES, Layout, ShField, SymField, headers_first,
    measure, put,
};
use ebpf_spec::deep_copy::assert_deep_copy;
use ebpf_spec::{CollectionSpec, DeepCopy, MAX_DATA_SECTION, MAX_MATERIALISED};
use object::Endianness;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use std::mem::offset_of;
use std::sync::OnceLock;

#[global_allocator]
static ALLOC: Counting = Counting;

/// The layout of every fixture, parsed once.
fn layouts() -> &'static [(Layout, Option<BtfLayout>)] {
    static LAYOUTS: OnceLock<Vec<(Layout, Option<BtfLayout>)>> = OnceLock::new();
    LAYOUTS.get_or_init(|| {
        FIXTURES
            .iter()
            .map(|(_, bytes)| {
                let layout = Layout::parse(bytes);
                let btf = layout
                    .sections
                    .iter()
                    .any(|s| s.name == ".BTF")
                    .then(|| BtfLayout::parse(bytes, &layout));
                (layout, btf)
            })
            .collect()
    })
}

/// Every fixture with its section table and names moved to the front, so that
/// a truncation cuts section data rather than the table.
fn moved() -> &'static [Vec<u8>] {
    static MOVED: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    MOVED.get_or_init(|| FIXTURES.iter().map(|(_, b)| headers_first(b)).collect())
}

/// A value to write into a field: absolute, or relative to what is there.
#[derive(Debug, Clone, Copy)]
enum Value {
    Abs(u64),
    /// The field's current value plus this (wrapping: 0 - 1 is all ones).
    Delta(i64),
}

impl Value {
    fn apply(self, current: u64) -> u64 {
        match self {
            Value::Abs(v) => v,
            Value::Delta(d) => current.wrapping_add_signed(d),
        }
    }
}

fn boundary() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(7),
        Just(8),
        Just(20),
        Just(0x7f),
        Just(0x80),
        Just(0xff),
        Just(0x7fff),
        Just(0xffff),
        Just(0x7fff_ffff),
        Just(0x8000_0000),
        Just(0xffff_ffff),
        Just(0x1_0000_0000),
        Just(i64::MAX as u64),
        Just(u64::MAX),
        Just(MAX_DATA_SECTION),
        Just(MAX_DATA_SECTION + 1),
        0..64u64,
        any::<u64>(),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => boundary().prop_map(Value::Abs),
        1 => prop_oneof![Just(-1i64), Just(1), Just(-8), Just(8), -64..64i64].prop_map(Value::Delta),
    ]
}

/// A byte-level mutation.
#[derive(Debug, Clone)]
enum Raw {
    Overwrite(Index, Vec<u8>),
    Word {
        at: Index,
        width: usize,
        value: u64,
        big_endian: bool,
    },
    FlipBit(Index, u8),
    Truncate(Index),
    Duplicate {
        from: Index,
        len: usize,
        to: Index,
    },
    Zero(Index, usize),
}

fn raw() -> impl Strategy<Value = Raw> {
    prop_oneof![
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Raw::Overwrite(i, b)),
        (
            any::<Index>(),
            prop_oneof![Just(1usize), Just(2), Just(4), Just(8)],
            boundary(),
            any::<bool>()
        )
            .prop_map(|(at, width, value, big_endian)| Raw::Word {
                at,
                width,
                value,
                big_endian
            }),
        (any::<Index>(), 0..8u8).prop_map(|(i, b)| Raw::FlipBit(i, b)),
        any::<Index>().prop_map(Raw::Truncate),
        (any::<Index>(), 1..512usize, any::<Index>()).prop_map(|(from, len, to)| Raw::Duplicate {
            from,
            len,
            to
        }),
        (any::<Index>(), 1..512usize).prop_map(|(i, n)| Raw::Zero(i, n)),
    ]
}

fn apply_raw(data: &mut Vec<u8>, m: &Raw) {
    if data.is_empty() {
        return;
    }
    let len = data.len();
    match m {
        Raw::Overwrite(at, bytes) => {
            let at = at.index(len);
            let n = bytes.len().min(len - at);
            data[at..at + n].copy_from_slice(&bytes[..n]);
        }
        Raw::Word {
            at,
            width,
            value,
            big_endian,
        } => {
            let at = at.index(len);
            if at + width <= len {
                let e = if *big_endian {
                    Endianness::Big
                } else {
                    Endianness::Little
                };
                put(data, at, *width, *value, e);
            }
        }
        Raw::FlipBit(at, bit) => data[at.index(len)] ^= 1 << bit,
        Raw::Truncate(at) => data.truncate(at.index(len)),
        Raw::Duplicate { from, len: n, to } => {
            let from = from.index(len);
            let n = (*n).min(len - from);
            let copy = data[from..from + n].to_vec();
            let to = to.index(len);
            data.splice(to..to, copy);
        }
        Raw::Zero(at, n) => {
            let at = at.index(len);
            let n = (*n).min(len - at);
            data[at..at + n].fill(0);
        }
    }
}

/// A mutation of one structured field, located through the fixture's layout.
#[derive(Debug, Clone)]
enum Field {
    Section(Index, ShField, Value),
    Symbol(Index, SymField, Value),
    RelOffset(Index, Value),
    RelSym(Index, Value),
    RelType(Index, Value),
    BtfHeader(usize, Value),
    BtfInfo(Index, Value),
    BtfVlen(Index, Value),
    BtfSizeOrType(Index, Value),
}

fn field() -> impl Strategy<Value = Field> {
    let btf_header = prop_oneof![
        Just(offset_of!(BtfHeader, magic)),
        Just(offset_of!(BtfHeader, hdr_len)),
        Just(offset_of!(BtfHeader, type_off)),
        Just(offset_of!(BtfHeader, type_len)),
        Just(offset_of!(BtfHeader, str_off)),
        Just(offset_of!(BtfHeader, str_len)),
    ];
    prop_oneof![
        3 => (any::<Index>(), prop::sample::select(ShField::ALL.to_vec()), value())
            .prop_map(|(i, f, v)| Field::Section(i, f, v)),
        3 => (any::<Index>(), prop::sample::select(SymField::ALL.to_vec()), value())
            .prop_map(|(i, f, v)| Field::Symbol(i, f, v)),
        1 => (any::<Index>(), value()).prop_map(|(i, v)| Field::RelOffset(i, v)),
        1 => (any::<Index>(), value()).prop_map(|(i, v)| Field::RelSym(i, v)),
        1 => (any::<Index>(), value()).prop_map(|(i, v)| Field::RelType(i, v)),
        1 => (btf_header, value()).prop_map(|(f, v)| Field::BtfHeader(f, v)),
        1 => (any::<Index>(), value()).prop_map(|(i, v)| Field::BtfInfo(i, v)),
        1 => (any::<Index>(), value()).prop_map(|(i, v)| Field::BtfVlen(i, v)),
        1 => (any::<Index>(), value()).prop_map(|(i, v)| Field::BtfSizeOrType(i, v)),
    ]
}

fn get(data: &[u8], at: usize, width: usize, e: Endianness) -> u64 {
    use object::Endian as _;
    match width {
        1 => u64::from(data[at]),
        2 => u64::from(e.read_u16(data[at..at + 2].try_into().unwrap())),
        4 => u64::from(e.read_u32(data[at..at + 4].try_into().unwrap())),
        _ => e.read_u64(data[at..at + 8].try_into().unwrap()),
    }
}

fn set(data: &mut [u8], at: usize, width: usize, v: Value, e: Endianness) {
    let current = get(data, at, width, e);
    put(data, at, width, v.apply(current), e);
}

fn apply_field(data: &mut [u8], layout: &Layout, btf: Option<&BtfLayout>, m: &Field) {
    let e = layout.endian;
    match m {
        Field::Section(i, f, v) => {
            let (at, w) = layout.sh_field(i.index(layout.sections.len()), *f);
            set(data, at, w, *v, e);
        }
        Field::Symbol(i, f, v) if !layout.symbols.is_empty() => {
            let (at, w) = layout.sym_field(i.index(layout.symbols.len()), *f);
            set(data, at, w, *v, e);
        }
        Field::RelOffset(i, v) | Field::RelSym(i, v) | Field::RelType(i, v)
            if !layout.relocs.is_empty() =>
        {
            let rel = &layout.relocs[i.index(layout.relocs.len())];
            match m {
                Field::RelOffset(..) => layout.set_rel_offset(data, rel, v.apply(rel.offset)),
                Field::RelSym(..) => {
                    let sym = v.apply(u64::from(rel.sym)) as u32;
                    layout.set_rel_info(data, rel, sym, rel.r_type);
                }
                _ => {
                    let ty = v.apply(u64::from(rel.r_type)) as u32;
                    layout.set_rel_info(data, rel, rel.sym, ty);
                }
            }
        }
        Field::BtfHeader(off, v) => {
            if let Some(btf) = btf {
                let width = if *off == offset_of!(BtfHeader, magic) {
                    2
                } else {
                    4
                };
                set(data, btf.header_field(*off), width, *v, e);
            }
        }
        Field::BtfInfo(i, v) | Field::BtfVlen(i, v) | Field::BtfSizeOrType(i, v) => {
            let Some(btf) = btf.filter(|b| !b.types.is_empty()) else {
                return;
            };
            let t = &btf.types[i.index(btf.types.len())];
            match m {
                Field::BtfInfo(..) => set(data, btf.info_at(t.id), 4, *v, e),
                Field::BtfVlen(..) => {
                    let at = btf.info_at(t.id);
                    let info = get(data, at, 4, e);
                    let vlen = v.apply(info & 0xffff) & 0xffff;
                    put(data, at, 4, (info & !0xffff) | vlen, e);
                }
                _ => set(data, t.at + offset_of!(BtfType, size_or_type), 4, *v, e),
            }
        }
        _ => {}
    }
}

/// The property: `Ok` (copying deeply) or an error, and allocations in
/// proportion to the input (a data section may be up to `MAX_DATA_SECTION`,
/// all of them together up to `MAX_MATERIALISED`).
fn check(data: &[u8]) -> Result<(), TestCaseError> {
    let (result, stats) = measure(|| CollectionSpec::from_elf(data));
    let largest = (16 * data.len() + (64 << 10)).max(MAX_DATA_SECTION as usize + (64 << 10));
    // The reader's whole-file budget, plus what it does not count (vectors'
    // slack, maps' nodes, temporaries).
    let total = 64 * data.len() + (1 << 20) + MAX_MATERIALISED as usize;
    // The result is summarised: a spec that broke the bound holds the
    // oversized buffer, too big to print.
    prop_assert!(
        stats.largest <= largest && stats.total <= total,
        "allocations {stats:?} for a {}-byte input; result {}",
        data.len(),
        match &result {
            Ok(spec) => format!(
                "Ok: {} maps (key/value sizes {:?}), {} programs",
                spec.maps.len(),
                spec.maps
                    .values()
                    .map(|m| (m.name.as_str(), m.key_size, m.value_size))
                    .collect::<Vec<_>>(),
                spec.programs.len()
            ),
            Err(e) => format!("Err: {e}"),
        }
    );
    match result {
        Ok(spec) => {
            let copy = spec.deep_copy();
            prop_assert_eq!(&copy, &spec);
            assert_deep_copy(&spec, &copy);
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(5000))]

    /// Random byte-level damage to a random fixture.
    #[test]
    fn byte_mutations_never_panic(
        fixture in any::<Index>(),
        raws in prop::collection::vec(raw(), 1..5),
    ) {
        let (_, bytes) = FIXTURES[fixture.index(FIXTURES.len())];
        let mut data = bytes.to_vec();
        for m in &raws {
            apply_raw(&mut data, m);
        }
        check(&data)?;
    }

    /// Boundary values in section headers, symbols, relocations and BTF records
    /// of a random fixture, sometimes with byte-level damage on top.
    #[test]
    fn field_mutations_never_panic(
        fixture in any::<Index>(),
        fields in prop::collection::vec(field(), 1..4),
        raws in prop::collection::vec(raw(), 0..2),
    ) {
        let i = fixture.index(FIXTURES.len());
        let (layout, btf) = &layouts()[i];
        let mut data = FIXTURES[i].1.to_vec();
        for m in &fields {
            apply_field(&mut data, layout, btf.as_ref(), m);
        }
        for m in &raws {
            apply_raw(&mut data, m);
        }
        check(&data)?;
    }

    /// A fixture cut anywhere: as it is (the section table is at the end, so
    /// mostly the table is cut) and with the table moved to the front (so the
    /// cut falls in section data), with byte-level damage on top.
    #[test]
    fn truncations_never_panic(
        fixture in any::<Index>(),
        cut in any::<Index>(),
        raws in prop::collection::vec(raw(), 0..2),
    ) {
        let i = fixture.index(FIXTURES.len());
        for bytes in [FIXTURES[i].1, &moved()[i][..]] {
            let mut data = bytes[..cut.index(bytes.len() + 1)].to_vec();
            for m in &raws {
                apply_raw(&mut data, m);
            }
            check(&data)?;
        }
    }
}
