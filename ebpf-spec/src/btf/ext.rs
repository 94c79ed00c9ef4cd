//! The `.BTF.ext` parser: func_info, line_info and CO-RE relocation records
//! per ELF section.

use super::records::{CoreRelocation, CoreRelocationKind, FuncInfo, LineInfo};
use super::{Btf, BtfError};
use crate::spec::{ByteOrder, Name};
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use zerocopy::byteorder::{BigEndian, LittleEndian, U16, U32};
use zerocopy::{FromBytes, Immutable, KnownLayout};

const MAGIC: u16 = 0xeb9f;
/// An instruction slot.
const INSN_SIZE: u32 = 8;

#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct Header<O: zerocopy::ByteOrder> {
    magic: U16<O>,
    version: u8,
    flags: u8,
    hdr_len: U32<O>,
    func_info_off: U32<O>,
    func_info_len: U32<O>,
    line_info_off: U32<O>,
    line_info_len: U32<O>,
}

/// The optional part of the header, when `hdr_len` covers it.
#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct CoreHeader<O: zerocopy::ByteOrder> {
    core_relo_off: U32<O>,
    core_relo_len: U32<O>,
}

/// `struct btf_ext_info_sec` without its records.
#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct SecHeader<O: zerocopy::ByteOrder> {
    sec_name_off: U32<O>,
    num_info: U32<O>,
}

/// `struct bpf_func_info`.
#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct RawFuncInfo<O: zerocopy::ByteOrder> {
    insn_off: U32<O>,
    type_id: U32<O>,
}

/// `struct bpf_line_info`.
#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct RawLineInfo<O: zerocopy::ByteOrder> {
    insn_off: U32<O>,
    file_name_off: U32<O>,
    line_off: U32<O>,
    line_col: U32<O>,
}

/// `struct bpf_core_relo`.
#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct RawCoreRelo<O: zerocopy::ByteOrder> {
    insn_off: U32<O>,
    type_id: U32<O>,
    access_str_off: U32<O>,
    kind: U32<O>,
}

/// A func_info record as in the section: the instruction's byte offset in
/// its ELF section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FuncInfoRecord {
    /// Byte offset of the function's first instruction in the ELF section.
    pub insn_off: u32,
    /// The `FUNC` type id.
    pub type_id: u32,
}

/// A line_info record as in the section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LineInfoRecord {
    /// Byte offset of the instruction in the ELF section.
    pub insn_off: u32,
    /// Offset of the file name in the BTF string section.
    pub file_name_off: u32,
    /// Offset of the line's source text in the BTF string section.
    pub line_off: u32,
    /// Line (upper 22 bits) and column (lower 10 bits).
    pub line_col: u32,
}

/// A CO-RE relocation record as in the section, with its access string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CoreReloRecord {
    /// Byte offset of the instruction in the ELF section.
    pub insn_off: u32,
    /// The local root type id.
    pub type_id: u32,
    /// Offset of the access string in the BTF string section.
    pub access_str_off: u32,
    /// The access string, shared by the records that name the same offset:
    /// a section's records may all point at one long string, and a copy per
    /// record would grow with their product.
    pub access: Arc<str>,
    /// The relocation kind.
    pub kind: CoreRelocationKind,
}

/// The `.BTF.ext` records of one ELF section (a program's section, `.text`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtSection {
    /// func_info records, in the order of the file.
    pub func_info: Vec<FuncInfoRecord>,
    /// line_info records, in the order of the file.
    pub line_info: Vec<LineInfoRecord>,
    /// CO-RE relocation records, in the order of the file.
    pub core_relos: Vec<CoreReloRecord>,
}

fn slot(insn_off: u32) -> usize {
    (insn_off / INSN_SIZE) as usize
}

impl ExtSection {
    /// The func_info records of the instructions `insns` (slot indexes in the
    /// ELF section: a function's range), relative to `insns.start`.
    pub fn func_infos(&self, insns: Range<usize>) -> Vec<FuncInfo> {
        self.func_info
            .iter()
            .filter(|r| insns.contains(&slot(r.insn_off)))
            .map(|r| func_info(r, insns.start))
            .collect()
    }

    /// The line_info records of the instructions `insns`, relative to
    /// `insns.start`.
    pub fn line_infos(&self, insns: Range<usize>) -> Vec<LineInfo> {
        self.line_info
            .iter()
            .filter(|r| insns.contains(&slot(r.insn_off)))
            .map(|r| line_info(r, insns.start))
            .collect()
    }

    /// The CO-RE relocations of the instructions `insns`, relative to
    /// `insns.start`.
    pub fn core_relocations(&self, insns: Range<usize>) -> Vec<CoreRelocation> {
        self.core_relos
            .iter()
            .filter(|r| insns.contains(&slot(r.insn_off)))
            .map(|r| core_relocation(r, insns.start))
            .collect()
    }

    /// The records indexed by instruction, for finding those of many
    /// functions (the ELF reader's use): each function's in
    /// O(log n + its own), where the methods above walk every record of the
    /// section, which for a function each is quadratic in the section.
    pub(crate) fn indexed(&self) -> IndexedExt<'_> {
        IndexedExt {
            ext: self,
            func: by_slot(&self.func_info, |r| r.insn_off),
            line: by_slot(&self.line_info, |r| r.insn_off),
            core: by_slot(&self.core_relos, |r| r.insn_off),
        }
    }
}

fn func_info(r: &FuncInfoRecord, start: usize) -> FuncInfo {
    FuncInfo {
        instruction: slot(r.insn_off) - start,
        type_id: r.type_id,
    }
}

fn line_info(r: &LineInfoRecord, start: usize) -> LineInfo {
    LineInfo {
        instruction: slot(r.insn_off) - start,
        file_name_off: r.file_name_off,
        line_off: r.line_off,
        line_col: r.line_col,
    }
}

fn core_relocation(r: &CoreReloRecord, start: usize) -> CoreRelocation {
    CoreRelocation {
        instruction: slot(r.insn_off) - start,
        type_id: r.type_id,
        access: Name::from(&*r.access),
        kind: r.kind,
    }
}

/// `(slot, index)` of every record, sorted.
fn by_slot<T>(records: &[T], insn_off: impl Fn(&T) -> u32) -> Vec<(usize, usize)> {
    let mut index: Vec<(usize, usize)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (slot(insn_off(r)), i))
        .collect();
    index.sort_unstable();
    index
}

/// The indexes of the records of `insns`, in the order of the file.
fn select(index: &[(usize, usize)], insns: &Range<usize>) -> Vec<usize> {
    let from = index.partition_point(|&(s, _)| s < insns.start);
    let to = index.partition_point(|&(s, _)| s < insns.end);
    let mut picked: Vec<usize> = index[from..to.max(from)].iter().map(|&(_, i)| i).collect();
    picked.sort_unstable();
    picked
}

/// An [`ExtSection`]'s records indexed by instruction slot (see
/// [`ExtSection::indexed`]): the same answers as its methods, in the same
/// (file) order.
pub(crate) struct IndexedExt<'e> {
    ext: &'e ExtSection,
    func: Vec<(usize, usize)>,
    line: Vec<(usize, usize)>,
    core: Vec<(usize, usize)>,
}

impl IndexedExt<'_> {
    /// As [`ExtSection::func_infos`].
    pub fn func_infos(&self, insns: Range<usize>) -> Vec<FuncInfo> {
        select(&self.func, &insns)
            .into_iter()
            .map(|i| func_info(&self.ext.func_info[i], insns.start))
            .collect()
    }

    /// As [`ExtSection::line_infos`].
    pub fn line_infos(&self, insns: Range<usize>) -> Vec<LineInfo> {
        select(&self.line, &insns)
            .into_iter()
            .map(|i| line_info(&self.ext.line_info[i], insns.start))
            .collect()
    }

    /// The CO-RE relocations of `insns` (as
    /// [`ExtSection::core_relocations`]), once the bytes they will take,
    /// passed to `charge`, are accepted.
    pub fn core_relocations<E>(
        &self,
        insns: Range<usize>,
        charge: impl FnOnce(usize) -> Result<(), E>,
    ) -> Result<Vec<CoreRelocation>, E> {
        let picked = select(&self.core, &insns);
        let records = picked.iter().map(|&i| &self.ext.core_relos[i]);
        charge(
            records
                .clone()
                .map(|r| size_of::<CoreRelocation>() + r.access.len())
                .sum(),
        )?;
        Ok(records.map(|r| core_relocation(r, insns.start)).collect())
    }
}

/// A parsed `.BTF.ext` section: its records by ELF section name.
///
/// Record sizes are taken from the section (a newer compiler's larger records
/// are read up to the fields known here); names and access strings are
/// resolved through the object's [`Btf`].
///
/// ```
/// use ebpf_spec::btf::{Btf, BtfExt};
/// use ebpf_spec::ByteOrder;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let object = include_bytes!("../../tests/fixtures/core/core.bpfel.o");
/// # use object::{Object, ObjectSection};
/// let file = object::File::parse(&object[..])?;
/// let section = |name| file.section_by_name(name).unwrap().data().unwrap();
/// let btf = Btf::parse(section(".BTF"), ByteOrder::Little)?;
/// let ext = BtfExt::parse(section(".BTF.ext"), ByteOrder::Little, &btf)?;
///
/// let skb = ext.section("tp_btf/kfree_skb").unwrap();
/// let relos = skb.core_relocations(0..usize::MAX);
/// assert!(relos.iter().any(|r| btf.name(r.type_id) == Some("sk_buff")));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BtfExt {
    sections: BTreeMap<String, ExtSection>,
}

impl BtfExt {
    /// Parses a `.BTF.ext` section in the given byte order; `btf` is the
    /// object's `.BTF`, whose strings name the sections and hold the access
    /// strings.
    ///
    /// # Errors
    /// If the header is bad, a region is outside the blob, a record size is
    /// smaller than the record or not a multiple of 4, a section has no
    /// records or more than the bytes present, a name or access string is
    /// not in `btf`, or an instruction offset is not a multiple of 8.
    pub fn parse(data: &[u8], order: ByteOrder, btf: &Btf) -> Result<BtfExt, BtfError> {
        match order {
            ByteOrder::Little => parse::<LittleEndian>(data, btf),
            ByteOrder::Big => parse::<BigEndian>(data, btf),
        }
    }

    /// The records of the ELF section `name`.
    pub fn section(&self, name: &str) -> Option<&ExtSection> {
        self.sections.get(name)
    }

    /// Every section with records, by name.
    pub fn sections(&self) -> impl Iterator<Item = (&str, &ExtSection)> {
        self.sections.iter().map(|(k, v)| (k.as_str(), v))
    }
}

fn err(what: String) -> BtfError {
    BtfError::Ext { what }
}

fn parse<O: zerocopy::ByteOrder>(data: &[u8], btf: &Btf) -> Result<BtfExt, BtfError> {
    let (hdr, _) = Header::<O>::ref_from_prefix(data)
        .map_err(|_| err(format!("{} bytes is too short for a header", data.len())))?;
    if hdr.magic.get() != MAGIC {
        return Err(err(format!(
            "bad magic {:#06x} (expected {MAGIC:#06x}: wrong byte order?)",
            hdr.magic.get()
        )));
    }
    if hdr.version != 1 {
        return Err(err(format!("unsupported version {}", hdr.version)));
    }
    if hdr.flags != 0 {
        return Err(err(format!("unsupported flags {:#x}", hdr.flags)));
    }
    let hdr_len = hdr.hdr_len.get() as usize;
    if hdr_len < size_of::<Header<O>>() || hdr_len > data.len() {
        return Err(err(format!(
            "header length {hdr_len} is not within {}..={}",
            size_of::<Header<O>>(),
            data.len()
        )));
    }
    let body = &data[hdr_len..];
    let region = |off: u32, len: u32, what: &str| -> Result<&[u8], BtfError> {
        if !off.is_multiple_of(4) {
            return Err(err(format!("{what} offset {off} is not 4-byte aligned")));
        }
        (off as usize)
            .checked_add(len as usize)
            .and_then(|end| body.get(off as usize..end))
            .ok_or_else(|| {
                err(format!(
                    "{what} ({off}+{len}) is outside the {} bytes after the header",
                    body.len()
                ))
            })
    };

    let mut sections = Sections::new(btf);
    let func = region(
        hdr.func_info_off.get(),
        hdr.func_info_len.get(),
        "func_info",
    )?;
    read_info::<O, RawFuncInfo<O>>(func, "func_info", btf, |sec, records| {
        let out = &mut sections.get(sec, "func_info")?.func_info;
        for r in records {
            out.push(FuncInfoRecord {
                insn_off: insn_off(r.insn_off.get(), "func_info", sec)?,
                type_id: r.type_id.get(),
            });
        }
        Ok(())
    })?;
    let line = region(
        hdr.line_info_off.get(),
        hdr.line_info_len.get(),
        "line_info",
    )?;
    read_info::<O, RawLineInfo<O>>(line, "line_info", btf, |sec, records| {
        let out = &mut sections.get(sec, "line_info")?.line_info;
        for r in records {
            out.push(LineInfoRecord {
                insn_off: insn_off(r.insn_off.get(), "line_info", sec)?,
                file_name_off: r.file_name_off.get(),
                line_off: r.line_off.get(),
                line_col: r.line_col.get(),
            });
        }
        Ok(())
    })?;
    if hdr_len >= size_of::<Header<O>>() + size_of::<CoreHeader<O>>() {
        let (core, _) = CoreHeader::<O>::ref_from_prefix(&data[size_of::<Header<O>>()..])
            .map_err(|_| err("truncated core_relo header".into()))?;
        let relos = region(
            core.core_relo_off.get(),
            core.core_relo_len.get(),
            "core_relo",
        )?;
        // Each access string is read (and its end searched for) once. Names
        // are offsets, so a record may name the tail of another's string:
        // the distinct strings may hold more bytes than the string section,
        // but not much more from any producer (each string is its own), so
        // past twice its size they are refused rather than copied again.
        let mut strings: HashMap<u32, Arc<str>> = HashMap::new();
        let mut copied: usize = 0;
        let most = 2 * btf.strings_len() + 4096;
        read_info::<O, RawCoreRelo<O>>(relos, "core_relo", btf, |sec, records| {
            let out = &mut sections.get(sec, "core_relo")?.core_relos;
            for r in records {
                let insn_off = insn_off(r.insn_off.get(), "core_relo", sec)?;
                let access_str_off = r.access_str_off.get();
                let access = match strings.get(&access_str_off) {
                    Some(a) => Arc::clone(a),
                    None => {
                        let a: Arc<str> = btf.string_at(access_str_off).ok_or_else(|| {
                        err(format!(
                            "core_relo of section {sec:?}: access string offset {access_str_off} is not a string of the BTF"
                        ))
                    })?.into();
                        copied += a.len();
                        if copied > most {
                            return Err(err(format!(
                                "core_relo of section {sec:?}: the access strings, overlapping, \
                             come to more than {most} bytes (twice the BTF's strings)"
                            )));
                        }
                        strings.insert(access_str_off, Arc::clone(&a));
                        a
                    }
                };
                out.push(CoreReloRecord {
                    insn_off,
                    type_id: r.type_id.get(),
                    access_str_off,
                    access,
                    kind: CoreRelocationKind::from_raw(r.kind.get()),
                });
            }
            Ok(())
        })?;
    }
    Ok(BtfExt {
        sections: sections.by_name,
    })
}

/// The sections met so far, by name: a name is copied once, when first met.
/// Names are offsets into the BTF's strings, so every suffix of one long
/// string is a name of its own: past twice the string section (more than
/// any producer's distinct names take), new names are refused rather than
/// copied again.
struct Sections {
    by_name: BTreeMap<String, ExtSection>,
    name_bytes: usize,
    most: usize,
}

impl Sections {
    fn new(btf: &Btf) -> Self {
        Sections {
            by_name: BTreeMap::new(),
            name_bytes: 0,
            most: 2 * btf.strings_len() + 4096,
        }
    }

    fn get(&mut self, name: &str, what: &str) -> Result<&mut ExtSection, BtfError> {
        if !self.by_name.contains_key(name) {
            self.name_bytes += name.len();
            if self.name_bytes > self.most {
                return Err(err(format!(
                    "{what}: the section names, overlapping, come to more than {} bytes \
                     (twice the BTF's strings)",
                    self.most
                )));
            }
            self.by_name.insert(name.to_owned(), ExtSection::default());
        }
        self.by_name
            .get_mut(name)
            .ok_or_else(|| err(format!("{what}: section {name:?} was not recorded")))
    }
}

fn insn_off(off: u32, what: &str, sec: &str) -> Result<u32, BtfError> {
    if off.is_multiple_of(INSN_SIZE) {
        Ok(off)
    } else {
        Err(err(format!(
            "{what} of section {sec:?}: instruction offset {off} is not a multiple of {INSN_SIZE}"
        )))
    }
}

/// Reads one info region: a record size, then for each section its name,
/// record count and records. `each` gets each section's name and records
/// (read through `R`, the tail of a larger record skipped).
fn read_info<'d, O: zerocopy::ByteOrder + 'd, R: FromBytes + KnownLayout + Immutable + 'd>(
    mut info: &'d [u8],
    what: &str,
    btf: &Btf,
    mut each: impl FnMut(&str, &[&'d R]) -> Result<(), BtfError>,
) -> Result<(), BtfError> {
    if info.is_empty() {
        return Ok(());
    }
    let (rec_size, rest) = U32::<O>::ref_from_prefix(info).map_err(|_| {
        err(format!(
            "{what}: {} bytes is too short for a record size",
            info.len()
        ))
    })?;
    let rec_size = rec_size.get() as usize;
    if rec_size < size_of::<R>() || !rec_size.is_multiple_of(4) {
        return Err(err(format!(
            "{what}: record size {rec_size} is smaller than {} or not a multiple of 4",
            size_of::<R>()
        )));
    }
    info = rest;
    while !info.is_empty() {
        let (sec, rest) = SecHeader::<O>::ref_from_prefix(info).map_err(|_| {
            err(format!(
                "{what}: {} bytes left is too short for a section header",
                info.len()
            ))
        })?;
        let name_off = sec.sec_name_off.get();
        let name = btf
            .string_at(name_off)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                err(format!(
                    "{what}: section name offset {name_off} is not a name in the BTF"
                ))
            })?;
        let count = sec.num_info.get() as usize;
        if count == 0 {
            return Err(err(format!("{what}: section {name:?} has no records")));
        }
        if count > rest.len() / rec_size {
            return Err(err(format!(
                "{what}: section {name:?} has {count} records of {rec_size} bytes, but only {} bytes are left",
                rest.len()
            )));
        }
        let (records, rest) = rest.split_at(count * rec_size);
        let records = records
            .chunks_exact(rec_size)
            .map(|record| {
                R::ref_from_prefix(record)
                    .map(|(r, _)| r)
                    .map_err(|_| err(format!("{what}: unreadable record in section {name:?}")))
            })
            .collect::<Result<Vec<&R>, BtfError>>()?;
        each(name, &records)?;
        info = rest;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index gives what the walks give, in the same order, for any
    /// range: empty, reversed, overlapping another, past the end.
    #[test]
    fn the_index_answers_as_the_walks_do() {
        let mut ext = ExtSection::default();
        let access: Arc<str> = Arc::from("0:1");
        // Offsets out of order and repeated, as a hand-made section may be.
        let mut state = 7u32;
        for i in 0..500u32 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let insn_off = 8 * ((state >> 8) % 97);
            ext.func_info.push(FuncInfoRecord {
                insn_off,
                type_id: i,
            });
            ext.line_info.push(LineInfoRecord {
                insn_off,
                file_name_off: i,
                line_off: 0,
                line_col: 0,
            });
            ext.core_relos.push(CoreReloRecord {
                insn_off,
                type_id: i,
                access_str_off: 1,
                access: Arc::clone(&access),
                kind: CoreRelocationKind::FieldByteOffset,
            });
        }
        let index = ext.indexed();
        #[allow(clippy::reversed_empty_ranges)]
        let ranges = [
            0..0,
            0..1,
            3..9,
            5..5,
            9..3,
            0..97,
            40..200,
            96..97,
            97..1000,
        ];
        for range in ranges {
            assert_eq!(
                index.func_infos(range.clone()),
                ext.func_infos(range.clone())
            );
            assert_eq!(
                index.line_infos(range.clone()),
                ext.line_infos(range.clone())
            );
            let mut charged = 0;
            let core = index
                .core_relocations(range.clone(), |size| {
                    charged = size;
                    Ok::<(), ()>(())
                })
                .unwrap();
            assert_eq!(core, ext.core_relocations(range.clone()));
            assert_eq!(charged, core.len() * (size_of::<CoreRelocation>() + 3));
        }
        // A refused charge copies nothing.
        assert_eq!(
            index.core_relocations(0..97, |_| Err("budget")),
            Err("budget")
        );
    }
}
