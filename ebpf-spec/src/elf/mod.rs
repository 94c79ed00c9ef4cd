//! The ELF reader: compiled eBPF objects (clang `-target bpfel`/`bpfeb`, aya) to
//! a [`CollectionSpec`].
//!
//! ELF structure comes from the `object` crate; fixed binary layouts (map
//! definitions, instructions, BTF records) are zerocopy structs with the
//! object's byte order. Every offset, size and index from the file is checked
//! before use and nothing is allocated with a size taken from the file: any
//! input yields a spec or a [`ParseError`] that names what is wrong and where.

mod btf;

use crate::btf::{Kind, TypeData};
use crate::spec::program::classify;
use crate::spec::{
    BtfSpec, ByteOrder, CollectionSpec, Instruction, MapEntry, MapExtra, MapFlags, MapSpec,
    MapType, MapValue, Name, NameMap, Pinning, ProgramSpec, ProgramType, Relocation,
    RelocationTarget, StructOps, VariableSpec,
};
use btf::ObjectBtf;
use object::Endianness;
use object::elf;
use object::read::elf::{FileHeader, Rel as _, SectionHeader as _, Sym as _};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use zerocopy::byteorder::{BigEndian, I16, I32, LittleEndian, U32};
use zerocopy::{FromBytes, Immutable, KnownLayout};

/// Why an object could not be read. Every variant names where the problem is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Not a 64-bit ELF file.
    #[error("not an ELF object: {what}")]
    NotElf {
        /// What the ELF parser said.
        what: String,
    },
    /// An ELF file for another machine.
    #[error("not an eBPF object: ELF machine is {machine}, expected 247 (EM_BPF)")]
    NotBpf {
        /// The file's `e_machine`.
        machine: u16,
    },
    /// The ELF structure is broken (section table, symbol table, string table).
    #[error("malformed ELF: {what}")]
    Elf {
        /// What is wrong.
        what: String,
    },
    /// A section's contents are wrong.
    #[error("section `{section}`: {what}")]
    Section {
        /// The section's name.
        section: String,
        /// What is wrong.
        what: String,
    },
    /// A map definition is wrong.
    #[error("map `{map}`: {what}")]
    Map {
        /// The map's name.
        map: String,
        /// What is wrong.
        what: String,
    },
    /// A symbol is wrong (out of its section, unknown kind).
    #[error("symbol `{symbol}`: {what}")]
    Symbol {
        /// The symbol's name (or `#index` when it has none).
        symbol: String,
        /// What is wrong.
        what: String,
    },
    /// A relocation is wrong (points nowhere, at a bad instruction).
    #[error("relocation in `{section}` at offset {offset}: {what}")]
    Relocation {
        /// The section the relocation applies to.
        section: String,
        /// The offset it applies at.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// The `.BTF` section is malformed or lacks a type the object uses.
    #[error("BTF: {what}")]
    Btf {
        /// What is wrong.
        what: String,
    },
    /// The file holds more than [`MAX_OBJECT_FILE`] bytes: it is not an
    /// eBPF object (`/dev/zero`, a pipe, an image), and reading it whole
    /// could exhaust memory.
    #[error(
        "cannot read {}: more than {limit} bytes, the most an object file may hold (MAX_OBJECT_FILE); is it an eBPF object?",
        path.display()
    )]
    FileTooLarge {
        /// The path.
        path: PathBuf,
        /// [`MAX_OBJECT_FILE`].
        limit: u64,
    },
    /// Reading this section would take the spec past the bytes one parse may
    /// materialise (see [`MAX_MATERIALISED`]): sizes in the file (a `.bss`
    /// header, sections or symbols that alias one another) ask for far more
    /// memory than the file holds.
    #[error(
        "section `{section}`: the spec would hold more than {limit} bytes, the most one parse of this {input}-byte object may materialise (MAX_MATERIALISED plus {MATERIALISED_PER_INPUT_BYTE} per input byte)"
    )]
    TooLarge {
        /// The section being read when the budget ran out.
        section: String,
        /// The budget of this parse, in bytes.
        limit: u64,
        /// The size of the input, in bytes.
        input: u64,
    },
}

impl CollectionSpec {
    /// Parses a compiled eBPF object.
    ///
    /// ```
    /// # fn main() -> Result<(), ebpf_spec::ParseError> {
    /// let bytes = include_bytes!("../../tests/fixtures/map_in_map.bpfel.o");
    /// let spec = ebpf_spec::CollectionSpec::from_elf(bytes)?;
    /// let outer = &spec.maps["outer_arr"];
    /// assert_eq!(outer.map_type, ebpf_spec::MapType::ArrayOfMaps);
    /// assert_eq!(outer.contents.len(), 2); // .values = { [1] = &inner_a, [3] = &inner_b }
    /// # Ok(()) }
    /// ```
    pub fn from_elf(data: &[u8]) -> Result<CollectionSpec, ParseError> {
        Reader::new(data)?.read()
    }

    /// Reads the object at `path` (at most [`MAX_OBJECT_FILE`] bytes, see
    /// [`read_object_file`]) and parses it.
    ///
    /// ```
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/globals.bpfel.o");
    /// let spec = ebpf_spec::CollectionSpec::from_file(path)?;
    /// assert!(spec.variables.contains_key("sample_rate"));
    ///
    /// // Not an object: an error naming the file, not a read that never ends.
    /// let err = ebpf_spec::CollectionSpec::from_file("/dev/zero").unwrap_err();
    /// assert!(matches!(err, ebpf_spec::ParseError::FileTooLarge { .. }));
    /// # Ok::<(), ebpf_spec::ParseError>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<CollectionSpec, ParseError> {
        Self::from_elf(&read_object_file(path)?)
    }
}

/// The most bytes [`read_object_file`] (and so
/// [`CollectionSpec::from_file`]) reads: 256 MiB. Real eBPF objects are a few
/// KiB to a few MiB, debug information included; the bound is for paths that
/// are not objects at all, such as `/dev/zero`, a pipe that never ends or a
/// disk image, which would otherwise be read until memory runs out.
pub const MAX_OBJECT_FILE: u64 = 256 << 20;

/// Reads the object file at `path` into memory, for
/// [`CollectionSpec::from_elf`] (or for another parser given the same bytes).
///
/// Unlike [`std::fs::read`], it stops at [`MAX_OBJECT_FILE`] bytes: a
/// regular file larger than that is refused before any byte is read, and a
/// special file (a character device, a pipe) that yields more is refused
/// once it has, with no buffer ever larger than the limit.
///
/// # Errors
/// [`ParseError::Io`] if the file cannot be opened or read,
/// [`ParseError::FileTooLarge`] if it holds more than [`MAX_OBJECT_FILE`]
/// bytes.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/globals.bpfel.o");
/// let bytes = ebpf_spec::read_object_file(path)?;
/// assert_eq!(&bytes[..4], b"\x7fELF");
/// # Ok::<(), ebpf_spec::ParseError>(())
/// ```
pub fn read_object_file(path: impl AsRef<Path>) -> Result<Vec<u8>, ParseError> {
    use std::io::Read as _;
    let path = path.as_ref();
    let io = |source| ParseError::Io {
        path: path.to_owned(),
        source,
    };
    let too_large = || ParseError::FileTooLarge {
        path: path.to_owned(),
        limit: MAX_OBJECT_FILE,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    // Only a regular file's length is its content's; devices report 0.
    let known = if meta.is_file() { meta.len() } else { 0 };
    if known > MAX_OBJECT_FILE {
        return Err(too_large());
    }
    // Read in chunks, checking the bound before each one is kept, so the
    // buffer never grows past MAX_OBJECT_FILE (`read_to_end` would double it
    // past the limit before noticing), even for a file that grows meanwhile.
    let mut data = Vec::with_capacity(known as usize);
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => return Ok(data),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        let need = data.len() + n;
        if need as u64 > MAX_OBJECT_FILE {
            return Err(too_large());
        }
        if need > data.capacity() {
            let target = grown_capacity(data.capacity(), need, MAX_OBJECT_FILE as usize);
            data.reserve_exact(target - data.len());
        }
        data.extend_from_slice(&chunk[..n]);
    }
}

/// The capacity `read_object_file` grows its buffer to when `need` bytes do
/// not fit in `capacity`: doubling, as `Vec` would, but never past `max` (a
/// regular file that grew after its length was read would otherwise get a
/// buffer of up to twice the limit). `need <= max`.
fn grown_capacity(capacity: usize, need: usize, max: usize) -> usize {
    capacity.saturating_mul(2).max(need).min(max)
}

/// `struct bpf_map_def`, the first 20 bytes of every legacy definition.
#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct LegacyMapDef<O: zerocopy::ByteOrder> {
    map_type: U32<O>,
    key_size: U32<O>,
    value_size: U32<O>,
    max_entries: U32<O>,
    map_flags: U32<O>,
}

const LEGACY_DEF_LEN: usize = 20;

/// The section of `__arena` globals (clang's name for address space 1).
const ARENA_SECTION: &str = ".addr_space.1";

/// The largest data section (and so data-section map value) accepted: far above
/// what the kernel creates (array values are limited to `KMALLOC_MAX_SIZE`,
/// 4 MiB on x86-64), and a bound on what a `.bss` header can make us allocate.
pub const MAX_DATA_SECTION: u64 = 64 << 20;

/// The whole-file budget of a parse: the spec built from one object holds at
/// most `MAX_MATERIALISED` bytes plus [`MATERIALISED_PER_INPUT_BYTE`] per byte
/// of the object, counting every byte whose amount the file decides: section
/// contents and variable values (zero-filled for `.bss`-like `SHT_NOBITS`
/// sections and `.kconfig`), instructions, names, legacy extra bytes and
/// initial map entries. [`MAX_DATA_SECTION`] bounds one section; this bounds
/// them all together, so a small file with thousands of huge `.bss` headers,
/// or sections and symbols that alias the same bytes, fails with
/// [`ParseError::TooLarge`] (naming the section) before it is allocated.
/// Real objects stay far below it: they materialise about twice their size.
pub const MAX_MATERIALISED: u64 = 256 << 20;

/// See [`MAX_MATERIALISED`]: what each byte of the input adds to the budget.
pub const MATERIALISED_PER_INPUT_BYTE: u64 = 4;

/// The largest `.kconfig` area accepted (its variables are ints, bools and
/// short strings).
const MAX_KCONFIG: u32 = 64 << 10;

/// What a [`Relocation`] costs in the budget besides its name.
const RELOCATION_COST: usize = std::mem::size_of::<Relocation>();

/// `struct bpf_insn` in an object's byte order.
#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct RawInsn<O: zerocopy::ByteOrder> {
    code: u8,
    regs: u8,
    off: I16<O>,
    imm: I32<O>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecKind {
    LegacyMaps,
    BtfMaps,
    Data {
        read_only: bool,
        bss: bool,
    },
    /// `.struct_ops` (registered by a map update) or `.struct_ops.link`
    /// (registered through a BPF link); `optional` with libbpf's `?` prefix.
    StructOps {
        link: bool,
        optional: bool,
    },
    /// `.addr_space.1`: `__arena` globals, the initial bytes of the object's
    /// arena map.
    Arena,
    Program,
    License,
    Version,
    Btf,
    BtfExt,
    Other,
}

struct Section<'d> {
    name: &'d str,
    kind: SecKind,
    data: &'d [u8],
    size: u64,
}

struct Symbol<'d> {
    name: &'d str,
    section: Option<usize>,
    value: u64,
    size: u64,
    kind: elf::SymbolType,
    bind: elf::SymbolBind,
    /// The reserved section index (`SHN_ABS`, `SHN_COMMON`...) of a
    /// symbol in no section that is not undefined either.
    reserved: Option<u16>,
    /// Visibility `STV_HIDDEN` or `STV_INTERNAL` (libbpf's `__hidden`): a
    /// global function or variable the object keeps to itself, whose BTF
    /// FUNC or VAR libbpf marks static before loading.
    hidden: bool,
}

impl Symbol<'_> {
    fn display(&self, index: usize) -> String {
        if self.name.is_empty() {
            format!("#{index}")
        } else {
            self.name.to_owned()
        }
    }
}

/// Where a global variable sits, for the BTF fix-up: its offset in its
/// section, and whether its symbol is hidden (its VAR is then made static).
pub(crate) struct VarPlace {
    pub offset: Option<u32>,
    pub hidden: bool,
}

/// A function in an executable section.
struct Function<'d> {
    name: &'d str,
    section: usize,
    start: u64,
    end: u64,
}

/// How many sections and symbols an object has before the BTF fix-up looks
/// names up in indexes rather than by walking them (building an index costs
/// more than a few walks).
const INDEX_FROM: usize = 256;

struct Reader<'d> {
    endian: Endianness,
    order: ByteOrder,
    sections: Vec<Section<'d>>,
    symbols: Vec<Symbol<'d>>,
    /// Relocation tables by the section they apply to.
    /// By section, in section order: the first bad relocation is the same
    /// one on every parse.
    rels: BTreeMap<usize, &'d [elf::Rel64<Endianness>]>,
    /// Per section, its object symbols (maps, variables) sorted by value.
    objects: Vec<Vec<usize>>,
    /// `.BTF`, parsed once: maps, variables, the fix-up and `.BTF.ext` all
    /// read it.
    btf: Option<ObjectBtf>,
    btf_raw: Option<BtfSpec>,
    /// `.BTF.ext`, parsed: func_info, line_info and CO-RE relocations by
    /// section.
    btf_ext: Option<crate::btf::BtfExt>,
    /// The legacy maps by offset in the `maps` section: (offset, name).
    legacy_at: Vec<(u64, &'d str)>,
    /// The arena map that holds the `__arena` globals, when the object has
    /// any: references into `.addr_space.1` are references into it.
    arena: Option<String>,
    /// The size of the input.
    input_len: u64,
    /// What the spec may still materialise (see [`MAX_MATERIALISED`]).
    budget: Cell<u64>,
    /// How each variable name has been defined so far (see
    /// [`Reader::section_variables`]).
    var_names: RefCell<HashMap<&'d str, NameUse>>,
}

/// How a variable name has been defined: by a global symbol, by one static
/// (local) symbol, or by several statics (objects linked from several files
/// keep each file's `static int cnt`), which makes it no variable.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameUse {
    Global,
    Local,
    Ambiguous,
}

fn elf_err(e: object::read::Error) -> ParseError {
    ParseError::Elf {
        what: e.to_string(),
    }
}

fn section_kind(name: &str, sh_type: elf::SectionType, flags: u64) -> SecKind {
    let exec = flags & elf::SHF_EXECINSTR.0 != 0;
    match name {
        "maps" => SecKind::LegacyMaps,
        ".maps" => SecKind::BtfMaps,
        "license" => SecKind::License,
        "version" => SecKind::Version,
        ".BTF" => SecKind::Btf,
        ".BTF.ext" => SecKind::BtfExt,
        _ if exec => SecKind::Program,
        // `?`: libbpf's "optional" prefix: maps not created unless asked.
        ".struct_ops" | "?.struct_ops" | ".struct_ops.link" | "?.struct_ops.link" => {
            SecKind::StructOps {
                link: name.ends_with(".link"),
                optional: name.starts_with('?'),
            }
        }
        ARENA_SECTION => SecKind::Arena,
        ".data" => SecKind::Data {
            read_only: false,
            bss: false,
        },
        ".bss" => SecKind::Data {
            read_only: false,
            bss: true,
        },
        ".rodata" => SecKind::Data {
            read_only: true,
            bss: false,
        },
        n if n.starts_with(".data.") => SecKind::Data {
            read_only: false,
            bss: sh_type == elf::SHT_NOBITS,
        },
        n if n.starts_with(".rodata.") => SecKind::Data {
            read_only: true,
            bss: sh_type == elf::SHT_NOBITS,
        },
        // libbpf: a `.bss.*` section is data when it has no bytes in the file.
        n if n.starts_with(".bss.") && sh_type == elf::SHT_NOBITS => SecKind::Data {
            read_only: false,
            bss: true,
        },
        _ => SecKind::Other,
    }
}

impl<'d> Reader<'d> {
    fn new(data: &'d [u8]) -> Result<Self, ParseError> {
        let header =
            elf::FileHeader64::<Endianness>::parse(data).map_err(|e| ParseError::NotElf {
                what: e.to_string(),
            })?;
        let endian = header.endian().map_err(|e| ParseError::NotElf {
            what: e.to_string(),
        })?;
        let machine = header.e_machine(endian);
        if machine != elf::EM_BPF {
            return Err(ParseError::NotBpf { machine: machine.0 });
        }
        let order = if header.is_little_endian() {
            ByteOrder::Little
        } else {
            ByteOrder::Big
        };
        let table = header.sections(endian, data).map_err(elf_err)?;

        let mut sections = Vec::with_capacity(table.len().min(data.len() / 64 + 1));
        let mut rels = BTreeMap::new();
        for (index, sh) in table.enumerate() {
            let name = table
                .section_name(endian, sh)
                .map_err(|e| ParseError::Section {
                    section: format!("#{}", index.0),
                    what: format!("bad name: {e}"),
                })?;
            let name = std::str::from_utf8(name).map_err(|_| ParseError::Elf {
                what: format!("section {} has a name that is not UTF-8", index.0),
            })?;
            let sh_type = sh.sh_type(endian);
            let kind = section_kind(name, sh_type, sh.sh_flags(endian).0);
            let size = sh.sh_size(endian);
            let bytes = if sh_type == elf::SHT_NOBITS {
                &[][..]
            } else {
                sh.data(endian, data).map_err(|_| ParseError::Section {
                    section: name.to_owned(),
                    what: format!("its {size} bytes lie outside the file"),
                })?
            };
            if sh_type == elf::SHT_REL {
                // `rel` gives the entries and the symbol table; sh_info names
                // the section the relocations apply to.
                let (table_rels, _symtab) = sh
                    .rel(endian, data)
                    .map_err(|e| ParseError::Section {
                        section: name.to_owned(),
                        what: e.to_string(),
                    })?
                    .unwrap_or((&[], object::SectionIndex(0)));
                let target = sh.sh_info(endian) as usize;
                if target == 0 || target >= table.len() {
                    return Err(ParseError::Section {
                        section: name.to_owned(),
                        what: format!(
                            "relocations for section index {target}, which does not exist ({} sections)",
                            table.len()
                        ),
                    });
                }
                if rels.insert(target, table_rels).is_some() {
                    return Err(ParseError::Section {
                        section: name.to_owned(),
                        what: format!("a second relocation table for section index {target}"),
                    });
                }
            }
            let unique = matches!(
                kind,
                SecKind::LegacyMaps
                    | SecKind::BtfMaps
                    | SecKind::License
                    | SecKind::Version
                    | SecKind::Btf
                    | SecKind::BtfExt
                    | SecKind::Arena
            );
            if unique && sections.iter().any(|s: &Section<'_>| s.kind == kind) {
                // Only one would be read: the other's maps or types lost.
                return Err(ParseError::Section {
                    section: name.to_owned(),
                    what: format!("a second section named `{name}` (section {})", index.0),
                });
            }
            sections.push(Section {
                name,
                kind,
                data: bytes,
                size,
            });
        }

        let symtab = table
            .symbols(endian, data, elf::SHT_SYMTAB)
            .map_err(elf_err)?;
        let mut symbols = Vec::with_capacity(symtab.len());
        for (index, sym) in symtab.enumerate() {
            let name = symtab
                .symbol_name(endian, sym)
                .map_err(|e| ParseError::Symbol {
                    symbol: format!("#{}", index.0),
                    what: format!("bad name: {e}"),
                })?;
            let name = std::str::from_utf8(name).map_err(|_| ParseError::Symbol {
                symbol: format!("#{}", index.0),
                what: "name is not UTF-8".into(),
            })?;
            let sym_err = |what: String| ParseError::Symbol {
                symbol: if name.is_empty() {
                    format!("#{}", index.0)
                } else {
                    name.into()
                },
                what,
            };
            let shndx = sym.st_shndx(endian).0;
            let section = symtab
                .symbol_section(endian, sym, index)
                .map_err(|e| sym_err(e.to_string()))?
                .map(|s| s.0);
            // SHN_ABS, SHN_COMMON...: not undefined (an extern), and in no
            // section. `SHN_XINDEX` was followed above.
            let reserved =
                (shndx >= elf::SHN_LORESERVE && shndx != elf::SHN_XINDEX.0).then_some(shndx);
            if let Some(s) = section
                && s >= sections.len()
            {
                return Err(sym_err(format!(
                    "section index {s} is out of range ({} sections)",
                    sections.len()
                )));
            }
            symbols.push(Symbol {
                name,
                section,
                value: sym.st_value(endian),
                size: sym.st_size(endian),
                kind: sym.st_type(),
                bind: sym.st_bind(),
                reserved,
                hidden: matches!(sym.st_visibility(), elf::STV_HIDDEN | elf::STV_INTERNAL),
            });
        }

        let mut objects = vec![Vec::new(); sections.len()];
        for (i, s) in symbols.iter().enumerate() {
            let is_object = !s.name.is_empty()
                && s.kind != elf::STT_SECTION
                && s.kind != elf::STT_FILE
                && s.kind != elf::STT_FUNC;
            if let (Some(sec), true) = (s.section, is_object) {
                objects[sec].push(i);
            }
        }
        for list in &mut objects {
            list.sort_by_key(|&i| symbols[i].value);
        }
        let mut reader = Reader {
            endian,
            order,
            sections,
            symbols,
            rels,
            objects,
            btf: None,
            btf_raw: None,
            btf_ext: None,
            legacy_at: Vec::new(),
            arena: None,
            input_len: data.len() as u64,
            budget: Cell::new(
                MAX_MATERIALISED
                    .saturating_add(MATERIALISED_PER_INPUT_BYTE.saturating_mul(data.len() as u64)),
            ),
            var_names: RefCell::new(HashMap::new()),
        };
        if let Some(s) = reader.sections.iter().find(|s| s.kind == SecKind::Btf) {
            reader.btf = Some(ObjectBtf::parse(s.data, order)?);
            reader.charge(s.data.len(), s.name)?;
            reader.btf_raw = Some(BtfSpec {
                btf: s.data.to_vec(),
            });
        }
        Ok(reader)
    }

    fn read(mut self) -> Result<CollectionSpec, ParseError> {
        let license = self.license()?;
        let kernel_version = self.version()?;
        let mut maps = BTreeMap::new();
        let add = |maps: &mut BTreeMap<Name, MapSpec>, m: MapSpec| {
            if maps.contains_key(m.name.as_str()) {
                return Err(ParseError::Map {
                    map: m.name.into(),
                    what: "defined twice".into(),
                });
            }
            maps.insert(m.name.clone(), m);
            Ok(())
        };
        for m in self.legacy_maps()? {
            add(&mut maps, m)?;
        }
        for m in self.btf_maps()? {
            add(&mut maps, m)?;
        }
        let (data_maps, mut variables) = self.data_sections()?;
        self.arena_globals(&mut maps, &mut variables)?;
        for m in data_maps {
            add(&mut maps, m)?;
        }
        let functions = self.functions()?;
        for m in self.struct_ops_maps(&functions)? {
            add(&mut maps, m)?;
        }
        self.btf_ext = self.btf_ext()?;
        let (programs, text) = self.programs(&functions, &license, kernel_version)?;
        self.fixup_btf(&maps, &variables)?;
        Ok(CollectionSpec {
            // Already in name order: the collecting sort finds one run (one pass).
            maps: maps.into_iter().collect(),
            programs: programs.into_iter().collect(),
            functions: text.into_iter().collect(),
            variables: variables.into_iter().collect(),
            btf: self.btf_raw.take(),
            byte_order: self.order,
            license: license.into(),
            kernel_version,
        })
    }

    /// Fills in the DATASEC sizes and variable offsets clang leaves 0 (from
    /// the section and symbol tables, and our `.kconfig` layout), so the BTF
    /// in the spec is what the kernel accepts.
    fn fixup_btf(
        &mut self,
        maps: &BTreeMap<Name, MapSpec>,
        variables: &BTreeMap<Name, VariableSpec>,
    ) -> Result<(), ParseError> {
        let (Some(btf), Some(raw)) = (&self.btf, self.btf_raw.as_mut()) else {
            return Ok(());
        };
        // Lookups by name: a walk for the usual few sections and symbols;
        // indexes past that, so that the fix-up stays linear (an object may
        // have thousands of data sections, each with its DATASEC).
        let sections = &self.sections;
        let symbols = &self.symbols;
        let objects = &self.objects;
        let large = sections.len() + symbols.len() > INDEX_FROM;
        let section_index: Option<HashMap<&str, usize>> = large.then(|| {
            let mut by_name = HashMap::new();
            for (i, s) in sections.iter().enumerate() {
                by_name.entry(s.name).or_insert(i);
            }
            by_name
        });
        let object_index: Option<HashMap<(usize, &str), &Symbol<'_>>> = large.then(|| {
            let mut by_name = HashMap::new();
            for (index, list) in objects.iter().enumerate() {
                for &i in list {
                    let sym = &symbols[i];
                    by_name
                        .entry((index, sym.name))
                        .and_modify(|kept: &mut &Symbol<'_>| {
                            if kept.bind == elf::STB_LOCAL && sym.bind != elf::STB_LOCAL {
                                *kept = sym;
                            }
                        })
                        .or_insert(sym);
                }
            }
            by_name
        });
        let find_section = |name: &str| match &section_index {
            Some(by_name) => by_name.get(name).copied(),
            None => sections.iter().position(|s| s.name == name),
        };
        let section_size = |name: &str| {
            if name == ".kconfig" {
                return maps.get(name).map(|m| m.value_size);
            }
            u32::try_from(sections[find_section(name)?].size).ok()
        };
        // The symbol a non-static VAR stands for: the first global (or weak)
        // one of its name in the section, as libbpf's `find_elf_var_sym`
        // looks at those only (a `static` of the same name, another file's
        // linked in, is not it); else the first of the name.
        let var_symbol = |sec: &str, var: &str| {
            let index = find_section(sec)?;
            match &object_index {
                Some(by_name) => by_name.get(&(index, var)).copied(),
                None => {
                    let mut named = objects[index]
                        .iter()
                        .map(|&i| &symbols[i])
                        .filter(|s| s.name == var);
                    let first = named.clone().next();
                    named.find(|s| s.bind != elf::STB_LOCAL).or(first)
                }
            }
        };
        let var_place = |sec: &str, var: &str| {
            let symbol = var_symbol(sec, var);
            let offset = match variables.get(var).filter(|v| v.section == sec) {
                Some(v) => Some(v.offset),
                None => symbol.and_then(|s| u32::try_from(s.value).ok()),
            };
            VarPlace {
                offset,
                hidden: symbol.is_some_and(|s| s.bind != elf::STB_LOCAL && s.hidden),
            }
        };
        btf.fixup_datasecs(&mut raw.btf, section_size, var_place)?;
        // Hidden global functions of `.text` (sub-programs), as libbpf marks
        // them (`mark_btf_static`): verified in their callers' context.
        let text = sections.iter().position(|s| s.name == ".text");
        let hidden_functions: Vec<&str> = symbols
            .iter()
            .filter(|s| {
                s.hidden
                    && s.kind == elf::STT_FUNC
                    && s.bind != elf::STB_LOCAL
                    && text.is_some()
                    && s.section == text
            })
            .map(|s| s.name)
            .collect();
        btf.mark_functions_static(&mut raw.btf, &hidden_functions)
    }

    /// Takes `bytes` from the whole-file budget before they are materialised
    /// for `section`: a [`ParseError::TooLarge`] naming it when they do not fit.
    fn charge(&self, bytes: impl TryInto<u64>, section: &str) -> Result<(), ParseError> {
        let left = bytes
            .try_into()
            .ok()
            .and_then(|b| self.budget.get().checked_sub(b));
        match left {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => {
                self.budget.set(0);
                Err(ParseError::TooLarge {
                    section: section.to_owned(),
                    limit: MAX_MATERIALISED
                        .saturating_add(MATERIALISED_PER_INPUT_BYTE.saturating_mul(self.input_len)),
                    input: self.input_len,
                })
            }
        }
    }

    fn section_err(&self, index: usize, what: impl Into<String>) -> ParseError {
        ParseError::Section {
            section: self.sections.get(index).map_or("?", |s| s.name).to_owned(),
            what: what.into(),
        }
    }

    fn u32_at(&self, bytes: &[u8]) -> Option<u32> {
        match self.order {
            ByteOrder::Little => U32::<LittleEndian>::read_from_prefix(bytes)
                .ok()
                .map(|(v, _)| v.get()),
            ByteOrder::Big => U32::<BigEndian>::read_from_prefix(bytes)
                .ok()
                .map(|(v, _)| v.get()),
        }
    }

    fn license(&self) -> Result<String, ParseError> {
        let Some(s) = self.sections.iter().find(|s| s.kind == SecKind::License) else {
            return Ok(String::new());
        };
        let text = s.data.split(|&b| b == 0).next().unwrap_or_default();
        std::str::from_utf8(text)
            .map(str::to_owned)
            .map_err(|_| ParseError::Section {
                section: s.name.into(),
                what: "license is not UTF-8".into(),
            })
    }

    fn version(&self) -> Result<u32, ParseError> {
        let Some(s) = self.sections.iter().find(|s| s.kind == SecKind::Version) else {
            return Ok(0);
        };
        if s.data.len() != 4 {
            return Err(ParseError::Section {
                section: s.name.into(),
                what: format!("is {} bytes, expected 4", s.data.len()),
            });
        }
        Ok(self.u32_at(s.data).unwrap_or(0))
    }

    /// Symbols defined in section `index` that name objects (maps,
    /// variables), by increasing value.
    fn object_symbols(&self, index: usize) -> impl Iterator<Item = (usize, &Symbol<'d>)> {
        self.objects[index].iter().map(|&i| (i, &self.symbols[i]))
    }

    // ------------------------------------------------------------ legacy maps

    /// The symbols of legacy `maps` section `index` that name maps, one per
    /// offset, by offset.
    ///
    /// A symbol names a map when it is a global or weak `NOTYPE`/`OBJECT`
    /// (what iproute2's `bpf_map_num_sym` counts), or a local `OBJECT` with a
    /// size (a `static` map, as clang emits it). Local `NOTYPE` symbols are
    /// labels, not maps (a `maps_end` marker); a zero-size symbol at or past
    /// the end of the section starts no definition. Symbols at one offset are
    /// one map under several names (aliases): it takes the name of a global
    /// `OBJECT` with a size if there is one, else of the first symbol.
    fn legacy_map_symbols(&self, index: usize) -> Vec<(usize, &Symbol<'d>)> {
        let sec_size = self.sections[index].size;
        let names_a_map = |s: &Symbol<'_>| {
            let global = s.bind == elf::STB_GLOBAL || s.bind == elf::STB_WEAK;
            let typed = s.kind == elf::STT_OBJECT || s.kind == elf::STT_NOTYPE;
            let past_end = s.size == 0 && s.value >= sec_size;
            typed && !past_end && (global || (s.kind == elf::STT_OBJECT && s.size > 0))
        };
        // Lower is a better name for a definition.
        let rank = |s: &Symbol<'_>| {
            (
                !(s.bind == elf::STB_GLOBAL || s.bind == elf::STB_WEAK),
                s.kind != elf::STT_OBJECT,
                s.size == 0,
            )
        };
        let mut defs: Vec<(usize, &Symbol<'d>)> = Vec::new();
        // `object_symbols` is sorted by value, stably: aliases are adjacent and
        // in symbol-table order.
        for (i, s) in self.object_symbols(index).filter(|(_, s)| names_a_map(s)) {
            match defs.last_mut() {
                Some(last) if last.1.value == s.value => {
                    if rank(s) < rank(last.1) {
                        *last = (i, s);
                    }
                }
                _ => defs.push((i, s)),
            }
        }
        defs
    }

    /// The legacy `maps` section: `struct bpf_map_def` (20 bytes) followed by
    /// extra bytes, every definition the same size: the section's size divided
    /// by the number of maps in it (see [`legacy_map_symbols`](Self::legacy_map_symbols)).
    fn legacy_maps(&mut self) -> Result<Vec<MapSpec>, ParseError> {
        let Some(index) = self
            .sections
            .iter()
            .position(|s| s.kind == SecKind::LegacyMaps)
        else {
            return Ok(Vec::new());
        };
        let sec = &self.sections[index];
        let syms = self.legacy_map_symbols(index);
        if syms.is_empty() {
            if sec.size > 0 {
                return Err(
                    self.section_err(index, format!("{} bytes but no map symbols", sec.size))
                );
            }
            return Ok(Vec::new());
        }
        let n = syms.len() as u64;
        if !sec.size.is_multiple_of(n) {
            return Err(self.section_err(
                index,
                format!(
                    "size {} is not a multiple of the {n} map symbols in it",
                    sec.size
                ),
            ));
        }
        let def_size = sec.size / n;
        if def_size < LEGACY_DEF_LEN as u64 {
            return Err(self.section_err(
                index,
                format!(
                    "map definitions of {def_size} bytes are shorter than struct bpf_map_def (20)"
                ),
            ));
        }
        let mut maps = Vec::with_capacity(syms.len());
        let mut iproute2 = Vec::with_capacity(syms.len());
        for &(i, sym) in &syms {
            let map_err = |what: String| ParseError::Map {
                map: sym.display(i),
                what,
            };
            if sym.value % def_size != 0 {
                return Err(map_err(format!(
                    "offset {} is not a multiple of the definition size {def_size}",
                    sym.value
                )));
            }
            let bytes = usize::try_from(sym.value)
                .ok()
                .and_then(|start| sec.data.get(start..start.checked_add(def_size as usize)?))
                .ok_or_else(|| {
                    map_err(format!(
                        "definition at offset {} lies outside the section",
                        sym.value
                    ))
                })?;
            // The name (twice: the spec's and the collection's key) and the extra bytes.
            self.charge(2 * sym.name.len() + bytes.len(), sec.name)?;
            let (head, extra) = bytes.split_at(LEGACY_DEF_LEN);
            let (ty, key, value, max, flags) = match self.order {
                ByteOrder::Little => legacy_fields::<LittleEndian>(head),
                ByteOrder::Big => legacy_fields::<BigEndian>(head),
            };
            let mut spec = MapSpec::new(sym.name, MapType::from_raw(ty), key, value, max);
            spec.flags = MapFlags::from_bits_retain(flags);
            spec.extra = MapExtra::new(extra, self.order);
            // iproute2's `BPF_ANNOTATE_KV_PAIR`: the map's BTF types (a
            // spin lock or timer in the value needs them).
            if let Some((k, v)) = self
                .btf
                .as_ref()
                .and_then(|b| b.legacy_kv(sym.name, key, value))
            {
                spec.btf_key_type_id = k;
                spec.btf_value_type_id = v;
            }
            if let Some(f) = spec.extra.iproute2() {
                // 1 (iproute2's PIN_OBJECT_NS, aya's by name) and 2
                // (PIN_GLOBAL_NS) pin by name. Other values are iproute2's
                // custom pinning namespaces: the map is kept, unpinned here,
                // and `MapExtra::unsupported` tells the loader to refuse it.
                spec.pinning = match f.pinning {
                    1 | 2 => Pinning::ByName,
                    _ => Pinning::None,
                };
                iproute2.push(f);
            }
            maps.push(spec);
        }
        if iproute2.len() == maps.len() {
            self.link_iproute2_inner_maps(index, &mut maps, &iproute2)?;
        }
        self.legacy_at = syms.iter().map(|(_, s)| (s.value, s.name)).collect();
        Ok(maps)
    }

    /// iproute2's map-in-map, as `bpf_maps_attach_all` in iproute2's
    /// `lib/bpf_legacy.c` does it: an outer map (a map-in-map with a non-zero
    /// `inner_id`) takes as its template the first map whose `id` is that
    /// `inner_id`; every such map that is not an outer map itself and whose
    /// `inner_idx` is not -1 (`u32::MAX`: a template only) fills slot
    /// `inner_idx` of every outer map naming its `id`.
    fn link_iproute2_inner_maps(
        &self,
        index: usize,
        maps: &mut [MapSpec],
        fields: &[crate::spec::Iproute2Fields],
    ) -> Result<(), ParseError> {
        let sec_name = self.sections[index].name;
        // The maps that can be inner maps, by id, in section order.
        let mut by_id: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (j, m) in maps.iter().enumerate() {
            if fields[j].id != 0 && !m.map_type.is_map_in_map() {
                by_id.entry(fields[j].id).or_default().push(j);
            }
        }
        for outer in 0..maps.len() {
            let inner_id = fields[outer].inner_id;
            if inner_id == 0 {
                continue;
            }
            let outer_err = |what: String| ParseError::Map {
                map: maps[outer].name.to_string(),
                what,
            };
            let outer_type = maps[outer].map_type;
            if !outer_type.is_map_in_map() {
                return Err(outer_err(format!(
                    "has inner_id {inner_id} but is a {outer_type}, not a map-in-map"
                )));
            }
            let candidates = by_id.get(&inner_id).map_or(&[][..], Vec::as_slice);
            let Some(&first) = candidates.first() else {
                return Err(outer_err(format!(
                    "inner_id {inner_id} matches no map's id"
                )));
            };
            let (key_size, max_entries) = (maps[outer].key_size, maps[outer].max_entries);
            if key_size < 4 {
                return Err(outer_err(format!(
                    "key_size {key_size} cannot hold the 4-byte slot index of its inner maps"
                )));
            }
            // The reader makes these keys (the index, zero-extended): their
            // size comes from the file, so it is bounded before any is made.
            if key_size > MAX_SLOT_KEY {
                return Err(outer_err(format!(
                    "key_size {key_size} is too large for the slot keys of its inner maps \
                     (at most {MAX_SLOT_KEY} bytes, the stack a BPF program builds a key on)"
                )));
            }
            // Slot index -> the inner map in it.
            let mut slots: BTreeMap<u32, usize> = BTreeMap::new();
            for &j in candidates {
                let idx = fields[j].inner_idx;
                if fields[j].inner_id != 0 || idx == u32::MAX {
                    continue;
                }
                if outer_type == MapType::ArrayOfMaps && idx >= max_entries {
                    return Err(outer_err(format!(
                        "inner map `{}` asks for slot {idx} (inner_idx), beyond max_entries {max_entries}",
                        maps[j].name
                    )));
                }
                if let Some(&k) = slots.get(&idx) {
                    return Err(outer_err(format!(
                        "inner maps `{}` and `{}` both ask for slot {idx} (inner_idx)",
                        maps[k].name, maps[j].name
                    )));
                }
                slots.insert(idx, j);
            }
            if outer_type == MapType::HashOfMaps && slots.len() as u64 > u64::from(max_entries) {
                return Err(outer_err(format!(
                    "{} inner maps ask for a slot, more than max_entries {max_entries}",
                    slots.len()
                )));
            }
            let mut contents = Vec::with_capacity(slots.len());
            for (&idx, &j) in &slots {
                self.charge(
                    u64::from(key_size).saturating_add(maps[j].name.len() as u64),
                    sec_name,
                )?;
                contents.push(MapEntry {
                    key: index_key(idx, key_size as usize, self.order),
                    value: MapValue::Map(maps[j].name.clone()),
                });
            }
            self.charge(
                2 * maps[first].name.len() + maps[first].extra.bytes().len(),
                sec_name,
            )?;
            let mut template = maps[first].clone();
            template.contents.clear();
            template.pinning = Pinning::None;
            contents.sort_by(|a, b| a.key.cmp(&b.key));
            maps[outer].inner_map = Some(Box::new(template));
            maps[outer].contents = contents;
        }
        Ok(())
    }

    // ------------------------------------------------------------ BTF maps

    fn btf_maps(&self) -> Result<Vec<MapSpec>, ParseError> {
        let Some(index) = self
            .sections
            .iter()
            .position(|s| s.kind == SecKind::BtfMaps)
        else {
            return Ok(Vec::new());
        };
        let syms: Vec<_> = self.object_symbols(index).collect();
        if syms.is_empty() {
            return Ok(Vec::new());
        }
        let btf = self.btf.as_ref().ok_or_else(|| {
            self.section_err(
                index,
                "BTF-defined maps need a .BTF section, and there is none",
            )
        })?;
        let (_, datasec) = btf.datasec(".maps").ok_or_else(|| ParseError::Btf {
            what: "no DATASEC `.maps` for the .maps section".into(),
        })?;
        let mut vars = HashMap::with_capacity(datasec.len());
        for entry in datasec {
            let var = btf.ty(entry.ty)?;
            if var.kind() != Kind::Var {
                return Err(ParseError::Btf {
                    what: format!("DATASEC `.maps` entry {} is not a variable", entry.ty),
                });
            }
            vars.insert(btf.name(var.name_off())?, var.size_or_type());
        }

        let mut maps = Vec::with_capacity(syms.len());
        let mut slots_at = Vec::with_capacity(syms.len());
        for (i, sym) in &syms {
            let ty = *vars.get(sym.name).ok_or_else(|| ParseError::Map {
                map: sym.display(*i),
                what: "has no BTF variable in DATASEC `.maps`".into(),
            })?;
            let sec_size = self.sections[index].size;
            if sym
                .value
                .checked_add(sym.size)
                .is_none_or(|end| end > sec_size)
            {
                return Err(ParseError::Map {
                    map: sym.display(*i),
                    what: format!(
                        "definition at {}+{} lies outside `.maps` ({sec_size} bytes)",
                        sym.value, sym.size
                    ),
                });
            }
            self.charge(2 * sym.name.len(), self.sections[index].name)?;
            let (spec, values_off) = self.btf_map_def(btf, sym.name, ty, 0)?;
            slots_at.push(values_off);
            maps.push(spec);
        }
        self.btf_map_initialisers(index, &syms, &slots_at, &mut maps)?;
        Ok(maps)
    }

    /// One BTF map definition (a struct of `__uint`/`__type`/`__array` members).
    /// Returns the spec and the byte offset of its `values` member, if any.
    fn btf_map_def(
        &self,
        btf: &ObjectBtf,
        name: &str,
        ty: u32,
        depth: u32,
    ) -> Result<(MapSpec, Option<u64>), ParseError> {
        let map_err = |what: String| ParseError::Map {
            map: name.to_owned(),
            what,
        };
        let st = btf.resolve(ty)?;
        let TypeData::Struct(members) = st.data() else {
            return Err(map_err(format!(
                "definition is a BTF {:?}, expected a struct",
                st.kind()
            )));
        };
        let mut spec = MapSpec::new(name, MapType::Unspec, 0, 0, 0);
        let mut values_off = None;
        let mut values_kind = None;
        let (mut key_size, mut value_size) = (None, None);
        for m in members.iter() {
            let member = btf.name(m.name_off)?;
            let uint = || -> Result<u32, ParseError> {
                let ptr = btf.resolve(m.ty)?;
                let arr = (ptr.kind() == Kind::Ptr)
                    .then(|| btf.resolve(ptr.size_or_type()))
                    .transpose()?
                    .filter(|a| a.kind() == Kind::Array)
                    .ok_or_else(|| {
                        map_err(format!("attribute `{member}` is not an __uint(...)"))
                    })?;
                Ok(match arr.data() {
                    TypeData::Array(a) => a.nelems,
                    _ => 0,
                })
            };
            let pointee = || -> Result<u32, ParseError> {
                let ptr = btf.resolve(m.ty)?;
                if ptr.kind() != Kind::Ptr {
                    return Err(map_err(format!(
                        "attribute `{member}` is not a __type(...)"
                    )));
                }
                Ok(ptr.size_or_type())
            };
            match member {
                "type" => spec.map_type = MapType::from_raw(uint()?),
                "max_entries" => spec.max_entries = uint()?,
                "map_flags" => spec.flags = MapFlags::from_bits_retain(uint()?),
                "numa_node" => spec.numa_node = uint()?,
                "map_extra" => {
                    // `__ulong(map_extra, v)` (libbpf 1.4): an enum whose one
                    // value is `v`, for values past 32 bits (an arena's
                    // address); `__uint` otherwise.
                    spec.map_extra = match btf.resolve(m.ty)?.data() {
                        TypeData::Enum(e) | TypeData::Enum64(e) => match e.get(0) {
                            Some(v) if e.len() == 1 => v.value as u64,
                            _ => {
                                return Err(map_err(format!(
                                    "attribute `map_extra` is an enum of {} values; `__ulong` \
                                     gives one",
                                    e.len()
                                )));
                            }
                        },
                        _ => u64::from(uint()?),
                    }
                }
                "key_size" => set_size(&mut key_size, uint()?, "key", &map_err)?,
                "value_size" => set_size(&mut value_size, uint()?, "value", &map_err)?,
                "pinning" => {
                    spec.pinning = match uint()? {
                        0 => Pinning::None,
                        1 => Pinning::ByName,
                        other => return Err(map_err(format!("unknown pinning value {other}"))),
                    }
                }
                "key" => {
                    let t = pointee()?;
                    set_size(&mut key_size, btf.size_of(t)?, "key", &map_err)?;
                    spec.btf_key_type_id = t;
                }
                "value" => {
                    let t = pointee()?;
                    set_size(&mut value_size, btf.size_of(t)?, "value", &map_err)?;
                    spec.btf_value_type_id = t;
                }
                "values" => {
                    // `__array(values, struct inner)`: an array of pointers to the
                    // inner definition (map-in-map) or to a function (prog array).
                    let TypeData::Array(arr) = btf.resolve(m.ty)?.data() else {
                        return Err(map_err("`values` is not an __array(...)".into()));
                    };
                    let ptr = btf.resolve(arr.elem)?;
                    if ptr.kind() != Kind::Ptr {
                        return Err(map_err("`values` elements are not pointers".into()));
                    }
                    if arr.nelems != 0 {
                        return Err(map_err(format!(
                            "`values` must be a zero-length array (`__array(values, ...)`), \
                             not one of {}",
                            arr.nelems
                        )));
                    }
                    let target = btf.resolve(ptr.size_or_type())?;
                    values_kind = Some(target.kind());
                    if target.kind() == Kind::Struct {
                        if depth > 0 {
                            return Err(map_err("inner maps cannot hold maps themselves".into()));
                        }
                        self.charge(name.len() + 6, ".maps")?;
                        let inner_name = format!("{name}.inner");
                        let (inner, _) =
                            self.btf_map_def(btf, &inner_name, target.id(), depth + 1)?;
                        spec.inner_map = Some(Box::new(inner));
                    }
                    set_size(&mut value_size, 4, "value", &map_err)?;
                    // The member's offset word as the record holds it (with
                    // `kind_flag`, bitfield size above bit offset).
                    let offset = m.bitfield_size << 24 | m.bit_offset;
                    values_off = Some(u64::from(offset / 8));
                }
                other => return Err(map_err(format!("unknown map attribute `{other}`"))),
            }
        }
        // What libbpf's parse_btf_map_def refuses, refused here too, naming
        // the map: otherwise a hash carrying an inner map, or a map-in-map
        // without one, would fail later, at creation, with a bare errno.
        if spec.map_type == MapType::Unspec {
            return Err(map_err(
                "no map type: the definition needs `__uint(type, BPF_MAP_TYPE_...)`".into(),
            ));
        }
        if depth > 0 && spec.pinning != Pinning::None {
            return Err(map_err("an inner map definition cannot be pinned".into()));
        }
        if let Some(kind) = values_kind {
            let t = spec.map_type;
            let wrong = if t.is_map_in_map() {
                (kind != Kind::Struct).then(|| {
                    format!(
                        "the `values` of a map of type {t} must point to the inner map's definition (a \
                         struct), not to a {}",
                        kind.name()
                    )
                })
            } else if t == MapType::ProgArray {
                (kind != Kind::FuncProto).then(|| {
                    format!(
                        "the `values` of a prog_array must point to functions, not to a {}",
                        kind.name()
                    )
                })
            } else {
                Some(format!(
                    "`values` is for map-in-map and prog_array maps, not a {t}"
                ))
            };
            if let Some(what) = wrong {
                return Err(map_err(what));
            }
        }
        spec.key_size = key_size.unwrap_or(0);
        spec.value_size = value_size.unwrap_or(0);
        Ok((spec, values_off))
    }

    /// Static initialisers of BTF maps: `.values = { [1] = &inner }` are
    /// relocations in `.rel.maps` at `sym + values_off + 8 * slot`.
    fn btf_map_initialisers(
        &self,
        index: usize,
        syms: &[(usize, &Symbol<'d>)],
        slots_at: &[Option<u64>],
        maps: &mut [MapSpec],
    ) -> Result<(), ParseError> {
        let Some(rels) = self.rels.get(&index) else {
            return Ok(());
        };
        let sec_name = self.sections[index].name;
        for rel in rels.iter() {
            let offset = rel.r_offset(self.endian);
            let reloc_err = |what: String| ParseError::Relocation {
                section: sec_name.to_owned(),
                offset,
                what,
            };
            let (k, (_, map_sym)) = syms
                .iter()
                .enumerate()
                .find(|(_, (_, s))| s.value <= offset && offset < s.value.saturating_add(s.size))
                .ok_or_else(|| reloc_err("points at no map definition".into()))?;
            let values_off = slots_at[k].ok_or_else(|| {
                reloc_err(format!(
                    "map `{}` has no `values` to initialise",
                    map_sym.name
                ))
            })?;
            let rel_in_values = (offset - map_sym.value)
                .checked_sub(values_off)
                .filter(|o| o % 8 == 0)
                .ok_or_else(|| reloc_err(format!("not a slot of `{}`.values", map_sym.name)))?;
            let slot = rel_in_values / 8;
            let spec = &mut maps[k];
            if slot >= u64::from(spec.max_entries) {
                return Err(reloc_err(format!(
                    "slot {slot} of `{}` is beyond max_entries {}",
                    spec.name, spec.max_entries
                )));
            }
            // Slots are keyed by their index, as 4 bytes (libbpf refuses
            // other key sizes too).
            if spec.key_size != 4 {
                return Err(reloc_err(format!(
                    "`{}` has key_size {}: a map initialised by `.values` is keyed by a 4-byte \
                     index",
                    spec.name, spec.key_size
                )));
            }
            let target = self.symbol(rel.r_sym(self.endian), &reloc_err)?;
            let target_sec = target.section.map(|s| &self.sections[s]);
            // clang points a slot at a `static` map or program through its
            // section's symbol (the offset in the slot's bytes): libbpf
            // refuses both ("unsupported map linkage static", "program is
            // static and not supported"); a slot must never get an empty name.
            if target.kind == elf::STT_SECTION || target.name.is_empty() {
                let what = match target_sec.map(|s| s.kind) {
                    Some(SecKind::Program) => "a static program",
                    Some(SecKind::BtfMaps) => "a static map",
                    _ => "a section symbol",
                };
                return Err(reloc_err(format!(
                    "slot {slot} of `{}` refers to {what} (through the symbol of section `{}`): \
                     as in libbpf, what `.values` holds must not be `static`",
                    spec.name,
                    target_sec.map_or("?", |s| s.name)
                )));
            }
            self.charge(4 + target.name.len(), sec_name)?;
            let value = match target_sec.map(|s| s.kind) {
                Some(SecKind::BtfMaps) if spec.map_type.is_map_in_map() => {
                    MapValue::Map(target.name.into())
                }
                Some(SecKind::Program) if spec.map_type == MapType::ProgArray => {
                    if target_sec.is_some_and(|s| s.name == ".text") {
                        return Err(reloc_err(format!(
                            "slot {slot} of `{}` holds `{}`, a function of .text (called by \
                             programs), not a program",
                            spec.name, target.name
                        )));
                    }
                    MapValue::Program(target.name.into())
                }
                _ => {
                    return Err(reloc_err(format!(
                        "slot {slot} of `{}` ({}) cannot hold `{}`",
                        spec.name, spec.map_type, target.name
                    )));
                }
            };
            spec.contents
                .push(MapEntry::at_index(slot as u32, value, self.order));
        }
        for m in maps.iter_mut() {
            m.contents.sort_by(|a, b| a.key.cmp(&b.key));
        }
        Ok(())
    }

    // ------------------------------------------------------------ struct_ops

    /// The maps of `.struct_ops` and `.struct_ops.link`: one per variable,
    /// named after it, whose value is a structure of callbacks
    /// ([`StructOps`]) with its type from BTF and its function-pointer
    /// members from the section's relocations (each to a `struct_ops`
    /// program), as libbpf reads them.
    fn struct_ops_maps(&self, functions: &[Function<'d>]) -> Result<Vec<MapSpec>, ParseError> {
        let mut maps = Vec::new();
        for (index, sec) in self.sections.iter().enumerate() {
            let SecKind::StructOps { link, optional } = sec.kind else {
                continue;
            };
            let btf = self.btf.as_ref().ok_or_else(|| {
                self.section_err(
                    index,
                    "struct_ops maps need the object's BTF, and it has none",
                )
            })?;
            let first = maps.len();
            // The VARs of the section's DATASEC (where libbpf finds them), by
            // name, read once.
            let mut vars = HashMap::new();
            for v in btf.datasec(sec.name).map_or(&[][..], |(_, vars)| vars) {
                let var = btf.ty(v.ty)?;
                if let TypeData::Var { ty, .. } = var.data() {
                    vars.entry(btf.name(var.name_off())?).or_insert(ty);
                }
            }
            for (i, sym) in self.object_symbols(index) {
                let sym_err = |what: String| ParseError::Symbol {
                    symbol: sym.display(i),
                    what,
                };
                let ty = *vars.get(sym.name).ok_or_else(|| {
                    sym_err(format!("no variable of `{}`'s BTF describes it", sec.name))
                })?;
                let st = btf.resolve(ty)?;
                let type_name = btf.name(st.name_off())?;
                if st.kind() != Kind::Struct || type_name.is_empty() {
                    return Err(sym_err(format!(
                        "a struct_ops variable must be a named struct, not a {}",
                        st.kind().name()
                    )));
                }
                let size = btf.size_of(st.id())?;
                let data = usize::try_from(sym.value)
                    .ok()
                    .and_then(|start| Some(start..start.checked_add(usize::try_from(size).ok()?)?))
                    .and_then(|range| sec.data.get(range))
                    .ok_or_else(|| {
                        sym_err(format!(
                            "its {size} bytes at offset {} are outside `{}` ({} bytes)",
                            sym.value,
                            sec.name,
                            sec.data.len()
                        ))
                    })?;
                self.charge(2 * sym.name.len() + type_name.len() + data.len(), sec.name)?;
                let mut spec = MapSpec::new(sym.name, MapType::StructOps, 4, size, 1);
                spec.btf_value_type_id = st.id();
                if link {
                    spec.flags = MapFlags::LINK;
                }
                spec.autocreate = !optional;
                let ops = StructOps {
                    type_name: type_name.into(),
                    data: data.to_vec(),
                    programs: NameMap::new(),
                };
                maps.push((sym.value, spec, ops));
            }
            self.struct_ops_programs(btf, functions, index, &mut maps[first..])?;
        }
        Ok(maps
            .into_iter()
            .map(|(_, mut spec, ops)| {
                let value = MapValue::StructOps(ops);
                spec.contents.push(MapEntry::at_index(0, value, self.order));
                spec
            })
            .collect())
    }

    /// Sets the function-pointer members of the struct_ops values of `maps`
    /// (each with its offset in section `index`) from the section's
    /// relocations and the object's BTF.
    fn struct_ops_programs(
        &self,
        btf: &ObjectBtf,
        functions: &[Function<'d>],
        index: usize,
        maps: &mut [(u64, MapSpec, StructOps)],
    ) -> Result<(), ParseError> {
        let Some(rels) = self.rels.get(&index) else {
            return Ok(());
        };
        let sec_name = self.sections[index].name;
        // Per struct type: its whole-byte members by offset, read once.
        let mut layouts: HashMap<u32, Vec<MemberAt<'_>>> = HashMap::new();
        for rel in rels.iter() {
            let offset = rel.r_offset(self.endian);
            let reloc_err = |what: String| ParseError::Relocation {
                section: sec_name.to_owned(),
                offset,
                what,
            };
            // `maps` is in offset order (symbols by value): the last one that
            // starts at or before the relocation.
            let k = maps.partition_point(|(start, _, _)| *start <= offset);
            let (start, spec, ops) = k
                .checked_sub(1)
                .and_then(|k| maps.get_mut(k))
                .filter(|(start, m, _)| offset - *start < u64::from(m.value_size))
                .ok_or_else(|| reloc_err("points at no struct_ops variable".into()))?;
            let at = offset - *start;
            let layout = match layouts.entry(spec.btf_value_type_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let TypeData::Struct(members) = btf.ty(spec.btf_value_type_id)?.data() else {
                        return Err(reloc_err("the variable is not a struct".into()));
                    };
                    let mut layout: Vec<_> = members
                        .iter()
                        .filter(|m| m.bitfield_size == 0 && m.bit_offset % 8 == 0)
                        .map(|m| (u64::from(m.bit_offset / 8), m.name, m.ty))
                        .collect();
                    layout.sort_by_key(|m| m.0);
                    e.insert(layout)
                }
            };
            let (_, member_name, member_ty) = layout
                .binary_search_by_key(&at, |m| m.0)
                .ok()
                .and_then(|k| layout.get(k))
                .copied()
                .ok_or_else(|| {
                    reloc_err(format!("no member of `{}` starts at byte {at}", spec.name))
                })?;
            let member_name = member_name.unwrap_or("");
            if !btf.is_func_pointer(member_ty) || member_name.is_empty() {
                return Err(reloc_err(format!(
                    "member `{member_name}` of `{}` is not a function pointer",
                    spec.name
                )));
            }
            // The program that starts where the symbol and the relocation's
            // addend (REL: the 8 bytes it applies to) point: a function
            // symbol, or the section symbol of a `static` one with the
            // program's offset as addend. (libbpf ignores the addend: a
            // section symbol there names the section's first program.)
            let field = at as usize..at as usize + 8;
            let addend = ops.data.get(field.clone()).map_or(0, |b| {
                let b: [u8; 8] = b.try_into().unwrap_or_default();
                match self.order {
                    ByteOrder::Little => u64::from_le_bytes(b),
                    ByteOrder::Big => u64::from_be_bytes(b),
                }
            });
            let sym_index = rel.r_sym(self.endian);
            let target = self.symbol(sym_index, &reloc_err)?;
            let program = target
                .section
                .filter(|&s| {
                    let s = &self.sections[s];
                    s.kind == SecKind::Program
                        && classify(s.name.strip_prefix('?').unwrap_or(s.name)).0
                            == ProgramType::StructOps
                })
                .zip(target.value.checked_add(addend))
                .and_then(|(s, at)| function_at(functions, s, at))
                .ok_or_else(|| {
                    reloc_err(format!(
                        "member `{member_name}` of `{}` refers to `{}`, which is not a struct_ops program",
                        spec.name,
                        target.display(sym_index as usize)
                    ))
                })?;
            self.charge(member_name.len() + program.name.len(), sec_name)?;
            // A BPF pointer is 8 bytes; the addend is consumed.
            if let Some(bytes) = ops.data.get_mut(field) {
                bytes.fill(0);
            }
            if ops
                .programs
                .insert(member_name.into(), program.name.into())
                .is_some()
            {
                return Err(reloc_err(format!(
                    "member `{member_name}` of `{}` is set twice",
                    spec.name
                )));
            }
        }
        Ok(())
    }

    fn symbol(
        &self,
        index: u32,
        err: &dyn Fn(String) -> ParseError,
    ) -> Result<&Symbol<'d>, ParseError> {
        if index == 0 {
            return Err(err("refers to the null symbol (index 0)".into()));
        }
        self.symbols.get(index as usize).ok_or_else(|| {
            err(format!(
                "symbol index {index} is out of range ({} symbols)",
                self.symbols.len()
            ))
        })
    }

    // ------------------------------------------------------------ data sections

    fn data_sections(&self) -> Result<(Vec<MapSpec>, BTreeMap<Name, VariableSpec>), ParseError> {
        let mut maps = Vec::new();
        let mut vars = BTreeMap::new();
        for (index, sec) in self.sections.iter().enumerate() {
            let SecKind::Data { read_only, bss } = sec.kind else {
                continue;
            };
            if sec.size == 0 {
                continue;
            }
            self.check_data_size(index)?;
            let value_size = sec.size as u32;
            self.charge(2 * sec.name.len(), sec.name)?;
            let mut spec = MapSpec::new(sec.name, MapType::Array, 4, value_size, 1);
            if read_only {
                spec.flags = MapFlags::RDONLY_PROG;
                spec.freeze = true;
            }
            if !bss {
                self.charge(sec.data.len(), sec.name)?;
                spec.contents.push(MapEntry::at_index(
                    0,
                    MapValue::Bytes(sec.data.to_vec()),
                    self.order,
                ));
            }
            if let Some(btf) = &self.btf
                && let Some((id, _)) = btf.datasec(sec.name)
            {
                spec.btf_value_type_id = id;
            }
            self.section_variables(index, bss, read_only, sec.name, &mut vars)?;
            maps.push(spec);
        }
        if let Some(m) = self.kconfig(&mut vars)? {
            maps.push(m);
        }
        Ok((maps, vars))
    }

    /// `.addr_space.1`, the `__arena` globals, read as libbpf reads them:
    /// their bytes are the initial contents of the object's one arena map
    /// (one entry with an empty key: arena keys are 0 bytes), their
    /// variables belong to that map, and references to them are references
    /// into it.
    fn arena_globals(
        &mut self,
        maps: &mut BTreeMap<Name, MapSpec>,
        vars: &mut BTreeMap<Name, VariableSpec>,
    ) -> Result<(), ParseError> {
        let arenas: Vec<&Name> = maps
            .values()
            .filter(|m| m.map_type == MapType::Arena)
            .map(|m| &m.name)
            .collect();
        // As libbpf, with or without `__arena` globals ("only single ARENA
        // map is supported").
        if let [a, b, ..] = arenas[..] {
            return Err(ParseError::Map {
                map: b.to_string(),
                what: format!(
                    "`{a}` is an arena map too: an object has at most one (as libbpf allows)"
                ),
            });
        }
        let Some(index) = self.sections.iter().position(|s| s.kind == SecKind::Arena) else {
            return Ok(());
        };
        let sec = &self.sections[index];
        if sec.size == 0 {
            return Ok(());
        }
        let Some(&name) = arenas.first() else {
            return Err(self.section_err(
                index,
                "holds `__arena` globals, but `.maps` declares no arena map to hold them",
            ));
        };
        let name = name.clone();
        self.check_data_size(index)?;
        // No bytes in the file: all the globals are zero (as `.bss`).
        let bss = sec.data.is_empty();
        self.charge(sec.size, sec.name)?;
        let bytes = if bss {
            vec![0; sec.size as usize]
        } else {
            sec.data.to_vec()
        };
        self.section_variables(index, bss, false, &name, vars)?;
        if let Some(arena) = maps.get_mut(name.as_str()) {
            arena.contents = vec![MapEntry {
                key: Vec::new(),
                value: MapValue::Bytes(bytes),
            }];
        }
        self.arena = Some(name.into());
        Ok(())
    }

    /// Refuses a data section (or `.addr_space.1`) too large to be one.
    fn check_data_size(&self, index: usize) -> Result<(), ParseError> {
        let size = self.sections[index].size;
        if size > MAX_DATA_SECTION {
            return Err(self.section_err(
                index,
                format!("{size} bytes is larger than a data section can be ({MAX_DATA_SECTION})"),
            ));
        }
        Ok(())
    }

    /// The variables of data section `index` into `vars`, each in the map
    /// named `map` (the section's own, or the arena's for `__arena` ones).
    ///
    /// A name is one variable. Objects linked from several files may hold
    /// several statics of one name (each file's `static int cnt`): the name
    /// does not say which, so none of them is a variable (a global of that
    /// name is); their bytes stay in their sections. Two globals of one name
    /// are refused.
    fn section_variables(
        &self,
        index: usize,
        bss: bool,
        constant: bool,
        map: &str,
        vars: &mut BTreeMap<Name, VariableSpec>,
    ) -> Result<(), ParseError> {
        // Variables do not overlap: their sizes add up to at most the
        // section's, so a file where they overlap cannot make us copy the
        // section once per variable.
        let mut budget = self.sections[index].size;
        let symbols: Vec<(usize, &Symbol<'d>)> = self.object_symbols(index).collect();
        let names = self.variable_names(index, &symbols);
        for (&(i, sym), named) in symbols.iter().zip(names) {
            let local = sym.bind == elf::STB_LOCAL;
            // An alias is no variable of its own; a static alias's name
            // still counts (another file's static of that name is then
            // ambiguous), a global alias's is just another name.
            let var = match (named, local) {
                (true, _) => {
                    let mut var = self.variable(index, i, sym, bss, constant, &mut budget)?;
                    if var.section != map {
                        var.section = map.into();
                    }
                    Some(var)
                }
                (false, true) => None,
                (false, false) => continue,
            };
            let mut names = self.var_names.borrow_mut();
            match (names.get(sym.name).copied(), local) {
                (None, _) | (Some(NameUse::Local | NameUse::Ambiguous), false) => {
                    let name_use = if local {
                        NameUse::Local
                    } else {
                        NameUse::Global
                    };
                    names.insert(sym.name, name_use);
                    if let Some(var) = var {
                        vars.insert(var.name.clone(), var);
                    }
                }
                (Some(NameUse::Global | NameUse::Ambiguous), true) => {}
                (Some(NameUse::Local), true) => {
                    names.insert(sym.name, NameUse::Ambiguous);
                    vars.remove(sym.name);
                }
                (Some(NameUse::Global), false) => {
                    return Err(ParseError::Symbol {
                        symbol: sym.display(i),
                        what: "defined twice".into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Which of `symbols` (the object symbols of data section `index`, by
    /// offset) name variables. An alias (`extern int b
    /// __attribute__((alias("a")))`: another symbol at a's offset, of a's
    /// size) is another name for a variable, not one of its own. Of the names
    /// of one variable, a global one is its name (of several, the one the
    /// section's DATASEC lists, as libbpf names it), else the listed one,
    /// else the first. Linear: one pass over the symbols, and one over the
    /// DATASEC when there are aliases.
    fn variable_names(&self, index: usize, symbols: &[(usize, &Symbol<'d>)]) -> Vec<bool> {
        let mut keep = vec![true; symbols.len()];
        // Groups of two or more names of one offset and one size.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut start = 0;
        while start < symbols.len() {
            let value = symbols[start].1.value;
            let end = symbols[start..]
                .iter()
                .position(|(_, s)| s.value != value)
                .map_or(symbols.len(), |p| start + p);
            if end - start > 1 {
                let mut by_size: HashMap<u64, Vec<usize>> = HashMap::new();
                for (k, (_, s)) in symbols.iter().enumerate().take(end).skip(start) {
                    if s.size != 0 {
                        by_size.entry(s.size).or_default().push(k);
                    }
                }
                groups.extend(by_size.into_values().filter(|g| g.len() > 1));
            }
            start = end;
        }
        if groups.is_empty() {
            return keep;
        }
        let listed: HashMap<(u64, u64), &str> = self
            .btf
            .as_ref()
            .and_then(|btf| {
                let (_, entries) = btf.datasec(self.sections[index].name)?;
                Some(
                    entries
                        .iter()
                        .filter_map(|e| {
                            let name = btf.name(btf.ty(e.ty).ok()?.name_off()).ok()?;
                            Some(((u64::from(e.offset), u64::from(e.size)), name))
                        })
                        .collect(),
                )
            })
            .unwrap_or_default();
        for group in groups {
            let sym = |k: usize| symbols[k].1;
            let first = sym(group[0]);
            // A global name first (one object has one global of a name;
            // a static's may be another file's too), then the listed one.
            let globals: Vec<usize> = group
                .iter()
                .copied()
                .filter(|&k| sym(k).bind != elf::STB_LOCAL)
                .collect();
            let candidates = if globals.is_empty() { &group } else { &globals };
            let chosen = listed
                .get(&(first.value, first.size))
                .and_then(|name| candidates.iter().copied().find(|&k| sym(k).name == *name))
                .unwrap_or(candidates[0]);
            for k in group {
                keep[k] = k == chosen;
            }
        }
        keep
    }

    fn variable(
        &self,
        index: usize,
        i: usize,
        sym: &Symbol<'d>,
        bss: bool,
        constant: bool,
        budget: &mut u64,
    ) -> Result<VariableSpec, ParseError> {
        let sec = &self.sections[index];
        let sym_err = |what: String| ParseError::Symbol {
            symbol: sym.display(i),
            what,
        };
        let mut size = sym.size;
        if size == 0 {
            // clang may leave the size to the loader: take it from BTF, else up
            // to the next symbol or the end of the section.
            size = self
                .btf_var_size(sym.name)
                .map(u64::from)
                .unwrap_or_else(|| {
                    let list = &self.objects[index];
                    let next = list.partition_point(|&j| self.symbols[j].value <= sym.value);
                    list.get(next)
                        .map_or(sec.size, |&j| self.symbols[j].value)
                        .saturating_sub(sym.value)
                });
        }
        let end = sym
            .value
            .checked_add(size)
            .filter(|&e| e <= sec.size)
            .ok_or_else(|| {
                sym_err(format!(
                    "{size} bytes at offset {} lie outside `{}` ({} bytes)",
                    sym.value, sec.name, sec.size
                ))
            })?;
        *budget = budget.checked_sub(size).ok_or_else(|| {
            sym_err(format!(
                "variables of `{}` overlap: more bytes of variables than its {} bytes",
                sec.name, sec.size
            ))
        })?;
        // Before allocating: `.bss` sizes come from headers alone, and sections
        // or symbols may alias the same bytes.
        self.charge(
            size.saturating_add((2 * sym.name.len() + sec.name.len()) as u64),
            sec.name,
        )?;
        let value = if bss {
            vec![0; size as usize]
        } else {
            sec.data
                .get(sym.value as usize..end as usize)
                .ok_or_else(|| sym_err(format!("lies outside the data of `{}`", sec.name)))?
                .to_vec()
        };
        Ok(VariableSpec {
            name: sym.name.into(),
            section: sec.name.into(),
            offset: sym.value as u32,
            size: size as u32,
            value,
            constant,
            weak: sym.bind == elf::STB_WEAK,
        })
    }

    fn btf_var_size(&self, name: &str) -> Option<u32> {
        let btf = self.btf.as_ref()?;
        btf.size_of(btf.var(name)?).ok()
    }

    /// `.kconfig`: externs the loader fills from the kernel's configuration.
    /// There is no ELF section; BTF's DATASEC `.kconfig` lists them.
    fn kconfig(
        &self,
        vars: &mut BTreeMap<Name, VariableSpec>,
    ) -> Result<Option<MapSpec>, ParseError> {
        let Some(btf) = &self.btf else {
            return Ok(None);
        };
        let Some((_, ds)) = btf.datasec(".kconfig") else {
            return Ok(None);
        };
        // An extern's undefined symbol says whether it is `__weak`.
        let weak_externs: std::collections::HashSet<&str> = self
            .symbols
            .iter()
            .filter(|s| s.section.is_none() && s.reserved.is_none() && s.bind == elf::STB_WEAK)
            .map(|s| s.name)
            .collect();
        let mut offset: u32 = 0;
        for entry in ds {
            let var = btf.ty(entry.ty)?;
            let name = btf.name(var.name_off())?;
            let size = btf.size_of(entry.ty)?;
            if size > MAX_KCONFIG {
                return Err(ParseError::Btf {
                    what: format!(
                        "`.kconfig` variable `{name}` is {size} bytes (at most {MAX_KCONFIG})"
                    ),
                });
            }
            let align = size.clamp(1, 8).next_power_of_two();
            offset = offset.next_multiple_of(align);
            if vars.contains_key(name) || self.var_names.borrow().contains_key(name) {
                return Err(ParseError::Symbol {
                    symbol: name.to_owned(),
                    what: "defined in a data section and as a .kconfig extern".into(),
                });
            }
            self.charge(size as usize + 2 * name.len() + 8, ".kconfig")?;
            let weak = weak_externs.contains(name);
            vars.insert(
                name.into(),
                VariableSpec {
                    name: name.into(),
                    section: ".kconfig".into(),
                    offset,
                    size,
                    value: vec![0; size as usize],
                    constant: true,
                    weak,
                },
            );
            offset = offset
                .checked_add(size)
                .filter(|&o| o <= MAX_KCONFIG)
                .ok_or_else(|| ParseError::Btf {
                    what: format!("`.kconfig` is larger than {MAX_KCONFIG} bytes"),
                })?;
        }
        if offset == 0 {
            return Ok(None);
        }
        let mut spec = MapSpec::new(".kconfig", MapType::Array, 4, offset.next_multiple_of(8), 1);
        spec.flags = MapFlags::RDONLY_PROG;
        spec.freeze = true;
        Ok(Some(spec))
    }

    // ------------------------------------------------------------ programs

    /// `.BTF.ext`, parsed against the `.BTF` parsed in [`Reader::new`], which
    /// must then be valid as a whole, not only in the types maps and
    /// variables use.
    fn btf_ext(&self) -> Result<Option<crate::btf::BtfExt>, ParseError> {
        let ext = self.sections.iter().find(|s| s.kind == SecKind::BtfExt);
        let (Some(btf), Some(ext)) = (&self.btf, ext) else {
            return Ok(None);
        };
        crate::btf::BtfExt::parse(ext.data, self.order, btf.full()?)
            .map(Some)
            .map_err(|e| ParseError::Section {
                section: ext.name.to_owned(),
                what: e.to_string(),
            })
    }

    fn functions(&self) -> Result<Vec<Function<'d>>, ParseError> {
        let mut funcs = Vec::new();
        for (index, sec) in self.sections.iter().enumerate() {
            if sec.kind != SecKind::Program || sec.size == 0 {
                continue;
            }
            if sec.size % 8 != 0 {
                return Err(
                    self.section_err(index, format!("size {} is not a multiple of 8", sec.size))
                );
            }
            if sec.data.len() as u64 != sec.size {
                return Err(self.section_err(index, "executable section has no data in the file"));
            }
            let mut syms: Vec<_> = self
                .symbols
                .iter()
                .enumerate()
                .filter(|(_, s)| s.section == Some(index) && s.kind == elf::STT_FUNC)
                .collect();
            syms.sort_by_key(|(_, s)| s.value);
            if syms.is_empty() {
                return Err(self.section_err(index, "executable section without a function symbol"));
            }
            for (k, (i, s)) in syms.iter().enumerate() {
                let next = syms.get(k + 1).map_or(sec.size, |(_, n)| n.value);
                let end = if s.size > 0 {
                    s.value.saturating_add(s.size)
                } else {
                    next
                };
                if s.value % 8 != 0 || end > sec.size || end <= s.value || end % 8 != 0 {
                    return Err(ParseError::Symbol {
                        symbol: s.display(*i),
                        what: format!(
                            "function at {}..{end} does not fit `{}` ({} bytes) in whole instructions",
                            s.value, sec.name, sec.size
                        ),
                    });
                }
                funcs.push(Function {
                    name: s.name,
                    section: index,
                    start: s.value,
                    end,
                });
            }
        }
        debug_assert!(
            funcs
                .windows(2)
                .all(|w| (w[0].section, w[0].start) <= (w[1].section, w[1].start))
        );
        Ok(funcs)
    }

    #[allow(clippy::type_complexity)]
    fn programs(
        &self,
        funcs: &[Function<'d>],
        license: &str,
        kernel_version: u32,
    ) -> Result<(BTreeMap<Name, ProgramSpec>, BTreeMap<Name, ProgramSpec>), ParseError> {
        let mut programs = BTreeMap::new();
        let mut text = BTreeMap::new();
        let mut relocs: HashMap<usize, Vec<Relocation>> = HashMap::new();
        // Relocations of every executable section, attributed to their function.
        for (&target, rels) in &self.rels {
            if self.sections.get(target).map(|s| s.kind) != Some(SecKind::Program) {
                continue;
            }
            for rel in rels.iter() {
                let (f, r) = self.instruction_relocation(funcs, target, rel)?;
                relocs.entry(f).or_default().push(r);
            }
        }
        // Each section's `.BTF.ext` records, indexed once for its functions
        // (`funcs` is sorted by section).
        let mut ext_index: Option<(usize, Option<crate::btf::IndexedExt<'_>>)> = None;
        for (fi, f) in funcs.iter().enumerate() {
            let sec = &self.sections[f.section];
            // `functions` checked start..end against the section's data.
            let bytes = sec
                .data
                .get(f.start as usize..f.end as usize)
                .unwrap_or_default();
            // Functions may overlap and sections alias the same bytes; every
            // function copies the license and its section's name (twice at
            // most: the attach target is a part of it).
            self.charge(
                bytes.len() + license.len() + 2 * sec.name.len() + 2 * f.name.len(),
                sec.name,
            )?;
            let instructions = self.instructions(bytes);
            if ext_index.as_ref().is_none_or(|(s, _)| *s != f.section) {
                let ext = self.btf_ext.as_ref().and_then(|ext| ext.section(sec.name));
                ext_index = Some((f.section, ext.map(|e| e.indexed())));
            }
            let (func_info, line_info, core_relocations) = match ext_index
                .as_ref()
                .and_then(|(_, ext)| ext.as_ref())
            {
                Some(ext) => {
                    let slots = (f.start / 8) as usize..(f.end / 8) as usize;
                    let (fi, li) = (ext.func_infos(slots.clone()), ext.line_infos(slots.clone()));
                    // Overlapping functions would copy the same records;
                    // the access strings, which records share in the
                    // section, are charged before they are copied.
                    self.charge(
                        fi.len() * size_of::<crate::btf::FuncInfo>()
                            + li.len() * size_of::<crate::btf::LineInfo>(),
                        sec.name,
                    )?;
                    let core = ext.core_relocations(slots, |size| self.charge(size, sec.name))?;
                    (fi, li, core)
                }
                None => Default::default(),
            };
            let mut relocations = relocs.remove(&fi).unwrap_or_default();
            // Calls inside one section need no relocation: resolve them by offset.
            relocations.sort_by_key(|r| r.instruction);
            let relocated = relocations.len();
            for (i, insn) in instructions.iter().enumerate() {
                let has_reloc = relocations[..relocated]
                    .binary_search_by_key(&i, |r| r.instruction)
                    .is_ok();
                if !insn.is_pseudo_call() || has_reloc {
                    continue;
                }
                let target = (f.start / 8 + i as u64 + 1)
                    .checked_add_signed(i64::from(insn.imm))
                    .and_then(|slot| slot.checked_mul(8));
                let callee = target
                    .and_then(|t| function_at(funcs, f.section, t))
                    .ok_or_else(|| ParseError::Relocation {
                        section: sec.name.to_owned(),
                        offset: f.start + i as u64 * 8,
                        what: format!("call in `{}` targets no function", f.name),
                    })?;
                self.charge(RELOCATION_COST + callee.name.len(), sec.name)?;
                relocations.push(Relocation {
                    instruction: i,
                    target: RelocationTarget::Call {
                        function: callee.name.into(),
                    },
                });
            }
            relocations.sort_by_key(|r| r.instruction);
            // Typed from the section name (`.text` is no program type), a
            // `?` prefix (libbpf's `SEC("?xdp")`) stripped, autoload off.
            let spec = ProgramSpec {
                kernel_version,
                relocations,
                func_info,
                line_info,
                core_relocations,
                ..ProgramSpec::new(f.name, sec.name, instructions, license)
            };
            let dest = if sec.name == ".text" {
                &mut text
            } else {
                &mut programs
            };
            if dest.insert(f.name.into(), spec).is_some() {
                return Err(ParseError::Symbol {
                    symbol: f.name.to_owned(),
                    what: "function defined twice".into(),
                });
            }
        }
        Ok((programs, text))
    }

    fn instructions(&self, bytes: &[u8]) -> Vec<Instruction> {
        fn convert<O: zerocopy::ByteOrder>(bytes: &[u8], swap_regs: bool) -> Vec<Instruction> {
            let (raw, _) = <[RawInsn<O>]>::ref_from_prefix_with_elems(bytes, bytes.len() / 8)
                .unwrap_or((&[], &[]));
            raw.iter()
                .map(|r| Instruction {
                    code: r.code,
                    regs: if swap_regs {
                        r.regs.rotate_left(4)
                    } else {
                        r.regs
                    },
                    off: r.off.get(),
                    imm: r.imm.get(),
                })
                .collect()
        }
        // The register nibbles follow the object's bitfield order; turn them
        // into the host's.
        let swap = self.order != ByteOrder::NATIVE;
        match self.order {
            ByteOrder::Little => convert::<LittleEndian>(bytes, swap),
            ByteOrder::Big => convert::<BigEndian>(bytes, swap),
        }
    }

    /// One relocation of an executable section: the function it lands in and
    /// what it refers to.
    fn instruction_relocation(
        &self,
        funcs: &[Function<'d>],
        section: usize,
        rel: &elf::Rel64<Endianness>,
    ) -> Result<(usize, Relocation), ParseError> {
        let sec = &self.sections[section];
        let offset = rel.r_offset(self.endian);
        let reloc_err = |what: String| ParseError::Relocation {
            section: sec.name.to_owned(),
            offset,
            what,
        };
        if !offset.is_multiple_of(8) || offset >= sec.size {
            return Err(reloc_err(format!(
                "offset is not an instruction of the {}-byte section",
                sec.size
            )));
        }
        let fi = function_containing(funcs, section, offset)
            .ok_or_else(|| reloc_err("lies in no function".into()))?;
        let f = &funcs[fi];
        let instruction = ((offset - f.start) / 8) as usize;
        let insn = self
            .instructions(
                sec.data
                    .get(offset as usize..offset as usize + 8)
                    .unwrap_or_default(),
            )
            .pop()
            .ok_or_else(|| reloc_err("lies outside the section data".into()))?;
        let sym = self.symbol(rel.r_sym(self.endian), &reloc_err)?;
        let is_ld = insn.is_ld_imm64();
        if is_ld && offset + 16 > f.end {
            return Err(reloc_err(format!(
                "ld_imm64 at the end of `{}` is truncated",
                f.name
            )));
        }
        let need_ld = |what: &str| {
            if is_ld {
                Ok(())
            } else {
                Err(reloc_err(format!(
                    "{what} reference on a non-ld_imm64 instruction (opcode {:#04x})",
                    insn.code
                )))
            }
        };
        // As libbpf (`bpf_program__record_reloc`): only calls and ld_imm64
        // are relocated, whatever the symbol (maps and data: ld_imm64 only).
        let is_call = insn.code == Instruction::CALL;
        let need_call_or_ld = |what: &str| {
            if is_call || is_ld {
                Ok(())
            } else {
                Err(reloc_err(format!(
                    "{what} `{}` referred to from an instruction with opcode {:#04x}: only \
                     calls and ld_imm64 instructions are relocated",
                    sym.display(rel.r_sym(self.endian) as usize),
                    insn.code
                )))
            }
        };
        self.charge(RELOCATION_COST, sec.name)?;
        if let Some(shndx) = sym.reserved {
            let why = match shndx {
                s if s == elf::SHN_COMMON.0 => {
                    "a common symbol (SHN_COMMON: a global without an initialiser, built with \
                     -fcommon): build with -fno-common or initialise it"
                }
                s if s == elf::SHN_ABS.0 => "an absolute symbol (SHN_ABS), in no section",
                _ => "in a reserved section",
            };
            return Err(reloc_err(format!(
                "refers to `{}`, {why} ({shndx:#x}); libbpf refuses it too",
                sym.display(rel.r_sym(self.endian) as usize)
            )));
        }
        let target = match sym.section.map(|s| (s, self.sections[s].kind)) {
            None => {
                need_call_or_ld("extern")?;
                self.charge(sym.name.len(), sec.name)?;
                RelocationTarget::Extern {
                    name: sym.name.into(),
                    weak: sym.bind == elf::STB_WEAK,
                }
            }
            Some((s, kind @ (SecKind::LegacyMaps | SecKind::BtfMaps))) => {
                need_ld("map")?;
                if sym.kind == elf::STT_SECTION || sym.name.is_empty() {
                    return Err(reloc_err("map reference through a section symbol".into()));
                }
                let map = if kind == SecKind::LegacyMaps {
                    // By offset: an alias or a label names the map defined there.
                    let i = self
                        .legacy_at
                        .binary_search_by_key(&sym.value, |&(at, _)| at)
                        .map_err(|_| {
                            reloc_err(format!(
                                "`{}` is at offset {} of `{}`, where no map is defined",
                                sym.name, sym.value, self.sections[s].name
                            ))
                        })?;
                    self.legacy_at[i].1
                } else {
                    sym.name
                };
                self.charge(map.len(), sec.name)?;
                RelocationTarget::Map { map: map.into() }
            }
            Some((s, SecKind::Data { .. })) => {
                need_ld("data")?;
                let offset = u32::try_from(sym.value)
                    .map_err(|_| reloc_err(format!("data offset {} is too large", sym.value)))?;
                self.charge(self.sections[s].name.len(), sec.name)?;
                RelocationTarget::Data {
                    map: self.sections[s].name.into(),
                    offset,
                }
            }
            Some((_, SecKind::Arena)) => {
                need_ld("arena")?;
                // `arena_globals` ran first: the section has its map.
                let map = self.arena.as_deref().ok_or_else(|| {
                    reloc_err(format!(
                        "`{}` is an `__arena` global, but no arena map holds them",
                        sym.name
                    ))
                })?;
                let offset = u32::try_from(sym.value)
                    .map_err(|_| reloc_err(format!("arena offset {} is too large", sym.value)))?;
                self.charge(map.len(), sec.name)?;
                RelocationTarget::Data {
                    map: map.into(),
                    offset,
                }
            }
            Some((s, SecKind::Program)) => {
                need_call_or_ld("function")?;
                // A call of code is a bpf-to-bpf call (libbpf: "incorrect
                // bpf_call opcode").
                if is_call && !insn.is_pseudo_call() {
                    return Err(reloc_err(format!(
                        "calls `{}`, a function, with src_reg {} where a bpf-to-bpf call has \
                         {} (BPF_PSEUDO_CALL)",
                        sym.display(rel.r_sym(self.endian) as usize),
                        insn.src_reg(),
                        Instruction::PSEUDO_CALL
                    )));
                }
                // As libbpf ("bad call relo"): what a program calls or passes
                // as a callback is a function of .text, not another program.
                let target_sec = self.sections[s].name;
                if s != section && target_sec != ".text" {
                    return Err(reloc_err(format!(
                        "`{}` refers to `{}` in section `{target_sec}`, another program's \
                         section: functions that programs call or pass as callbacks must be \
                         in .text",
                        f.name,
                        sym.display(rel.r_sym(self.endian) as usize),
                    )));
                }
                let target = if sym.kind == elf::STT_FUNC {
                    Some(sym.value)
                } else if insn.is_pseudo_call() {
                    (sym.value / 8 + 1)
                        .checked_add_signed(i64::from(insn.imm))
                        .and_then(|t| t.checked_mul(8))
                } else if is_ld {
                    sym.value.checked_add_signed(i64::from(insn.imm))
                } else {
                    None
                };
                let callee = target
                    .and_then(|t| function_at(funcs, s, t))
                    .ok_or_else(|| {
                        reloc_err(format!(
                            "refers to no function in `{}`",
                            self.sections[s].name
                        ))
                    })?;
                self.charge(callee.name.len(), sec.name)?;
                RelocationTarget::Call {
                    function: callee.name.into(),
                }
            }
            Some((s, _)) => {
                return Err(reloc_err(format!(
                    "refers to `{}` in section `{}`, which holds no maps, data or code",
                    sym.display(rel.r_sym(self.endian) as usize),
                    self.sections[s].name
                )));
            }
        };
        Ok((
            fi,
            Relocation {
                instruction,
                target,
            },
        ))
    }
}

/// The function of `section` starting at `start`. `funcs` is sorted by
/// (section, start), as [`Reader::functions`] builds it.
fn function_at<'a, 'd>(
    funcs: &'a [Function<'d>],
    section: usize,
    start: u64,
) -> Option<&'a Function<'d>> {
    let i = funcs
        .binary_search_by_key(&(section, start), |g| (g.section, g.start))
        .ok()?;
    Some(&funcs[i])
}

/// The index of the function of `section` whose instructions contain `offset`.
fn function_containing(funcs: &[Function<'_>], section: usize, offset: u64) -> Option<usize> {
    let i = funcs.partition_point(|g| (g.section, g.start) <= (section, offset));
    i.checked_sub(1)
        .filter(|&i| funcs[i].section == section && offset < funcs[i].end)
}

fn legacy_fields<O: zerocopy::ByteOrder>(head: &[u8]) -> (u32, u32, u32, u32, u32) {
    match LegacyMapDef::<O>::ref_from_prefix(head) {
        Ok((d, _)) => (
            d.map_type.get(),
            d.key_size.get(),
            d.value_size.get(),
            d.max_entries.get(),
            d.map_flags.get(),
        ),
        Err(_) => (0, 0, 0, 0, 0),
    }
}

fn set_size(
    slot: &mut Option<u32>,
    size: u32,
    what: &str,
    err: &dyn Fn(String) -> ParseError,
) -> Result<(), ParseError> {
    match *slot {
        Some(prev) if prev != size => Err(err(format!(
            "{what} size given twice: {prev} and {size} bytes"
        ))),
        _ => {
            *slot = Some(size);
            Ok(())
        }
    }
}

/// A whole-byte member of a struct: its byte offset, name and type.
type MemberAt<'a> = (u64, Option<&'a str>, u32);

/// The largest key the reader makes for an iproute2 map-in-map slot: a BPF
/// program builds the keys it looks up on its 512-byte stack
/// (`MAX_BPF_STACK`).
const MAX_SLOT_KEY: u32 = 512;

/// A slot index as a map key of `key_size` (at least 4) bytes: the `u32`
/// zero-extended to `key_size` bytes, in the object's byte order.
fn index_key(index: u32, key_size: usize, order: ByteOrder) -> Vec<u8> {
    let mut key = vec![0; key_size];
    let bytes = order.u32_bytes(index);
    match order {
        ByteOrder::Little => key[..4].copy_from_slice(&bytes),
        ByteOrder::Big => key[key_size - 4..].copy_from_slice(&bytes),
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_doubles_but_never_past_the_limit() {
        const MAX: usize = 256 << 20;
        assert_eq!(grown_capacity(0, 65536, MAX), 65536);
        assert_eq!(grown_capacity(65536, 65537, MAX), 131072);
        // A 192 MiB file that grew while read: 256 MiB, not 384.
        assert_eq!(grown_capacity(192 << 20, (192 << 20) + 1, MAX), MAX);
        assert_eq!(grown_capacity(MAX - 1, MAX, MAX), MAX);
        assert_eq!(grown_capacity(usize::MAX / 2 + 1, 10, MAX), MAX);
    }

    #[test]
    fn struct_ops_sections_with_and_without_libbpfs_optional_prefix() {
        let data = elf::SHF_ALLOC.0 | elf::SHF_WRITE.0;
        for (name, link, optional) in [
            (".struct_ops", false, false),
            ("?.struct_ops", false, true),
            (".struct_ops.link", true, false),
            ("?.struct_ops.link", true, true),
        ] {
            assert_eq!(
                section_kind(name, elf::SHT_PROGBITS, data),
                SecKind::StructOps { link, optional },
                "{name}"
            );
        }
        // Not struct_ops: other names, and executable sections (programs).
        assert_eq!(
            section_kind(".struct_ops.x", elf::SHT_PROGBITS, data),
            SecKind::Other
        );
        let exec = elf::SHF_ALLOC.0 | elf::SHF_EXECINSTR.0;
        assert_eq!(
            section_kind("struct_ops/init", elf::SHT_PROGBITS, exec),
            SecKind::Program
        );
    }
}
