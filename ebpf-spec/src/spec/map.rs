//! `MapSpec`: everything needed to create one kernel map.

use crate::DeepCopy;
use std::fmt;
use zerocopy::byteorder::{BigEndian, LittleEndian, U32};
use zerocopy::{FromBytes, Immutable, KnownLayout};

use super::ByteOrder;
use super::name::{Name, NameMap};

macro_rules! kernel_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $prefix:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $kname:literal, )*
        }
    ) => {
        $(#[$meta])*
        ///
        /// Values compare, order and hash by the kernel's number: an
        /// `Unknown(n)` made by hand with a number this library knows equals
        /// that number's variant (`from_raw` and deserialising never make
        /// one; [`canonical`](Self::canonical) gives the variant).
        #[derive(Debug, Clone, Copy)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this library does not know, kept as the kernel's number.
            Unknown(u32),
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.raw() == other.raw()
            }
        }

        impl Eq for $name {}

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.raw().hash(state);
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.raw().cmp(&other.raw())
            }
        }

        impl $name {
            /// The same value, as the variant of its number when this
            /// library knows it (an `Unknown(n)` made by hand), to `match` on.
            pub fn canonical(self) -> Self {
                Self::from_raw(self.raw())
            }

            /// From the kernel's number; unknown numbers are kept in `Unknown`.
            pub fn from_raw(raw: u32) -> Self {
                match raw {
                    $( $value => Self::$variant, )*
                    other => Self::Unknown(other),
                }
            }

            /// The kernel's number.
            pub fn raw(self) -> u32 {
                match self {
                    $( Self::$variant => $value, )*
                    Self::Unknown(raw) => raw,
                }
            }

            /// The kernel's name in lowercase without its prefix
            #[doc = concat!("(`", $prefix, "HASH` is `hash`); `unknown` for unknown values.")]
            pub fn name(self) -> &'static str {
                match self.canonical() {
                    $( Self::$variant => $kname, )*
                    Self::Unknown(_) => "unknown",
                }
            }

            /// Every known value, in the kernel's order.
            pub const ALL: &'static [Self] = &[$( Self::$variant, )*];
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.canonical() {
                    Self::Unknown(raw) => write!(f, "unknown({raw})"),
                    other => f.write_str(other.name()),
                }
            }
        }

        $crate::deep_copy::plain!($name);

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_u32(self.raw())
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <u32 as serde::Deserialize>::deserialize(d).map(Self::from_raw)
            }
        }
    };
}
pub(crate) use kernel_enum;

kernel_enum! {
    /// The kernel's map types (`enum bpf_map_type`), through `BPF_MAP_TYPE_ARENA`.
    MapType, "BPF_MAP_TYPE_" {
        /// `BPF_MAP_TYPE_UNSPEC`
        Unspec = 0 => "unspec",
        /// `BPF_MAP_TYPE_HASH`
        Hash = 1 => "hash",
        /// `BPF_MAP_TYPE_ARRAY`
        Array = 2 => "array",
        /// `BPF_MAP_TYPE_PROG_ARRAY`
        ProgArray = 3 => "prog_array",
        /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`
        PerfEventArray = 4 => "perf_event_array",
        /// `BPF_MAP_TYPE_PERCPU_HASH`
        PerCpuHash = 5 => "percpu_hash",
        /// `BPF_MAP_TYPE_PERCPU_ARRAY`
        PerCpuArray = 6 => "percpu_array",
        /// `BPF_MAP_TYPE_STACK_TRACE`
        StackTrace = 7 => "stack_trace",
        /// `BPF_MAP_TYPE_CGROUP_ARRAY`
        CgroupArray = 8 => "cgroup_array",
        /// `BPF_MAP_TYPE_LRU_HASH`
        LruHash = 9 => "lru_hash",
        /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`
        LruPerCpuHash = 10 => "lru_percpu_hash",
        /// `BPF_MAP_TYPE_LPM_TRIE`
        LpmTrie = 11 => "lpm_trie",
        /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`
        ArrayOfMaps = 12 => "array_of_maps",
        /// `BPF_MAP_TYPE_HASH_OF_MAPS`
        HashOfMaps = 13 => "hash_of_maps",
        /// `BPF_MAP_TYPE_DEVMAP`
        DevMap = 14 => "devmap",
        /// `BPF_MAP_TYPE_SOCKMAP`
        SockMap = 15 => "sockmap",
        /// `BPF_MAP_TYPE_CPUMAP`
        CpuMap = 16 => "cpumap",
        /// `BPF_MAP_TYPE_XSKMAP`
        XskMap = 17 => "xskmap",
        /// `BPF_MAP_TYPE_SOCKHASH`
        SockHash = 18 => "sockhash",
        /// `BPF_MAP_TYPE_CGROUP_STORAGE` (deprecated)
        CgroupStorage = 19 => "cgroup_storage",
        /// `BPF_MAP_TYPE_REUSEPORT_SOCKARRAY`
        ReuseportSockArray = 20 => "reuseport_sockarray",
        /// `BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE` (deprecated)
        PerCpuCgroupStorage = 21 => "percpu_cgroup_storage",
        /// `BPF_MAP_TYPE_QUEUE`
        Queue = 22 => "queue",
        /// `BPF_MAP_TYPE_STACK`
        Stack = 23 => "stack",
        /// `BPF_MAP_TYPE_SK_STORAGE`
        SkStorage = 24 => "sk_storage",
        /// `BPF_MAP_TYPE_DEVMAP_HASH`
        DevMapHash = 25 => "devmap_hash",
        /// `BPF_MAP_TYPE_STRUCT_OPS`
        StructOps = 26 => "struct_ops",
        /// `BPF_MAP_TYPE_RINGBUF`
        RingBuf = 27 => "ringbuf",
        /// `BPF_MAP_TYPE_INODE_STORAGE`
        InodeStorage = 28 => "inode_storage",
        /// `BPF_MAP_TYPE_TASK_STORAGE`
        TaskStorage = 29 => "task_storage",
        /// `BPF_MAP_TYPE_BLOOM_FILTER`
        BloomFilter = 30 => "bloom_filter",
        /// `BPF_MAP_TYPE_USER_RINGBUF`
        UserRingBuf = 31 => "user_ringbuf",
        /// `BPF_MAP_TYPE_CGRP_STORAGE`
        CgrpStorage = 32 => "cgrp_storage",
        /// `BPF_MAP_TYPE_ARENA`: pages shared by programs and user space;
        /// the object's `__arena` globals are its contents.
        Arena = 33 => "arena",
    }
}

impl MapType {
    /// Maps whose values are other maps (`ARRAY_OF_MAPS`, `HASH_OF_MAPS`).
    pub fn is_map_in_map(self) -> bool {
        matches!(self.canonical(), Self::ArrayOfMaps | Self::HashOfMaps)
    }

    /// Maps with a value per possible CPU (`PERCPU_HASH`, `PERCPU_ARRAY`,
    /// `LRU_PERCPU_HASH`, `PERCPU_CGROUP_STORAGE`): user space reads and
    /// writes all of a key's values at once, each rounded up to 8 bytes.
    ///
    /// ```
    /// use ebpf_spec::MapType;
    /// assert!(MapType::PerCpuArray.is_per_cpu());
    /// assert!(!MapType::Array.is_per_cpu());
    /// ```
    pub fn is_per_cpu(self) -> bool {
        matches!(
            self.canonical(),
            Self::PerCpuHash | Self::PerCpuArray | Self::LruPerCpuHash | Self::PerCpuCgroupStorage
        )
    }

    /// Whether maps of this type evict their least recently used entries
    /// when full (`LRU_HASH`, `LRU_PERCPU_HASH`).
    ///
    /// ```
    /// use ebpf_spec::MapType;
    /// assert!(MapType::LruPerCpuHash.is_lru());
    /// assert!(!MapType::Hash.is_lru());
    /// ```
    pub fn is_lru(self) -> bool {
        matches!(self.canonical(), Self::LruHash | Self::LruPerCpuHash)
    }

    /// Whether the kernel takes BTF key and value type ids for this type of
    /// map (libbpf's list: fd arrays, stack traces, queues, stacks, ring
    /// buffers and arenas do not).
    pub fn accepts_btf_types(self) -> bool {
        !matches!(
            self.canonical(),
            Self::ProgArray
                | Self::PerfEventArray
                | Self::CgroupArray
                | Self::StackTrace
                | Self::ArrayOfMaps
                | Self::HashOfMaps
                | Self::DevMap
                | Self::DevMapHash
                | Self::CpuMap
                | Self::XskMap
                | Self::SockMap
                | Self::SockHash
                | Self::Queue
                | Self::Stack
                | Self::Arena
                | Self::RingBuf
                | Self::UserRingBuf
        )
    }
}

bitflags::bitflags! {
    /// `map_flags` (`BPF_F_*`). Unknown bits are kept as they are.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
    pub struct MapFlags: u32 {
        /// `BPF_F_NO_PREALLOC`
        const NO_PREALLOC = 1 << 0;
        /// `BPF_F_NO_COMMON_LRU`
        const NO_COMMON_LRU = 1 << 1;
        /// `BPF_F_NUMA_NODE`
        const NUMA_NODE = 1 << 2;
        /// `BPF_F_RDONLY`
        const RDONLY = 1 << 3;
        /// `BPF_F_WRONLY`
        const WRONLY = 1 << 4;
        /// `BPF_F_STACK_BUILD_ID`
        const STACK_BUILD_ID = 1 << 5;
        /// `BPF_F_ZERO_SEED`
        const ZERO_SEED = 1 << 6;
        /// `BPF_F_RDONLY_PROG`
        const RDONLY_PROG = 1 << 7;
        /// `BPF_F_WRONLY_PROG`
        const WRONLY_PROG = 1 << 8;
        /// `BPF_F_CLONE`
        const CLONE = 1 << 9;
        /// `BPF_F_MMAPABLE`
        const MMAPABLE = 1 << 10;
        /// `BPF_F_PRESERVE_ELEMS`
        const PRESERVE_ELEMS = 1 << 11;
        /// `BPF_F_INNER_MAP`
        const INNER_MAP = 1 << 12;
        /// `BPF_F_LINK`
        const LINK = 1 << 13;
        /// `BPF_F_PATH_FD`
        const PATH_FD = 1 << 14;
        /// `BPF_F_VTYPE_BTF_OBJ_FD`
        const VTYPE_BTF_OBJ_FD = 1 << 15;
        /// `BPF_F_TOKEN_FD`
        const TOKEN_FD = 1 << 16;
        /// `BPF_F_SEGV_ON_FAULT`
        const SEGV_ON_FAULT = 1 << 17;
        /// `BPF_F_NO_USER_CONV`
        const NO_USER_CONV = 1 << 18;
        // Keep every other bit as it is.
        const _ = !0;
    }
}

crate::deep_copy::plain!(MapFlags);

/// Whether (and how) a map is pinned on a bpffs when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, DeepCopy)]
#[deep_copy(plain)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Pinning {
    /// Not pinned.
    #[default]
    None,
    /// Pinned under the loader's pin path by the map's name; an existing pin is
    /// reused if it is compatible (libbpf's `LIBBPF_PIN_BY_NAME`, iproute2's
    /// `PIN_GLOBAL_NS` and `PIN_OBJECT_NS`).
    ByName,
}

impl Pinning {
    /// `none` or `by_name`.
    pub fn name(self) -> &'static str {
        match self {
            Pinning::None => "none",
            Pinning::ByName => "by_name",
        }
    }
}

/// The value of a map entry in a spec's initial contents.
#[derive(Debug, Clone, PartialEq, Eq, DeepCopy)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum MapValue {
    /// Raw bytes, `value_size` long.
    Bytes(Vec<u8>),
    /// The map of this name in the same collection (map-in-map slots): the
    /// loader writes its fd.
    Map(Name),
    /// The program of this name in the same collection (prog-array slots): the
    /// loader writes its fd.
    Program(Name),
    /// The structure of callbacks of a `struct_ops` map (its only entry).
    StructOps(StructOps),
}

/// The value of a `struct_ops` map: a kernel structure of callbacks
/// (`tcp_congestion_ops`, `sched_ext_ops` ...) as the object initialises it,
/// each function-pointer member set to one of the collection's programs.
///
/// The bytes are in the object's layout, which need not be the kernel's: a
/// loader copies each member to the kernel's structure of the same name by
/// member name, as libbpf does, and puts the programs' fds in the
/// function-pointer members.
///
/// ```
/// use ebpf_spec::CollectionSpec;
///
/// let spec = CollectionSpec::from_file("tests/fixtures/struct_ops/struct_ops.bpfel.o")?;
/// let ca = &spec.maps["spec_ca"];
/// let ops = ca.struct_ops().unwrap(); // the value of its one entry
/// assert_eq!(ops.type_name, "tcp_congestion_ops");
/// assert_eq!(ops.programs["ssthresh"], "spec_ssthresh");
/// assert_eq!(ops.data.len(), ca.value_size as usize);
/// # Ok::<(), ebpf_spec::ParseError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, DeepCopy)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StructOps {
    /// The structure's name: the kernel's BTF must have it too, but for a
    /// `___flavour` suffix (`tcp_congestion_ops___v2` is the kernel's
    /// `tcp_congestion_ops`).
    pub type_name: Name,
    /// The structure's bytes as the object initialises them (`value_size`
    /// long, the object's layout and byte order). The function-pointer
    /// members set to a program are 0 here: [`programs`](Self::programs)
    /// says what they hold.
    pub data: Vec<u8>,
    /// The function-pointer members set to a program: member name to the
    /// program's name in the collection.
    pub programs: NameMap<Name>,
}

/// One entry of a map's initial contents.
#[derive(Debug, Clone, PartialEq, Eq, DeepCopy)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MapEntry {
    /// The key bytes, `key_size` long (in the object's byte order).
    pub key: Vec<u8>,
    /// The value.
    pub value: MapValue,
}

impl MapEntry {
    /// An entry whose key is a `u32` index (arrays, map-in-map, prog arrays),
    /// encoded in `order`.
    pub fn at_index(index: u32, value: MapValue, order: ByteOrder) -> Self {
        MapEntry {
            key: order.u32_bytes(index).to_vec(),
            value,
        }
    }
}

/// The bytes of a legacy map definition beyond the 20 bytes of
/// `struct bpf_map_def`: immutable bytes, never a reader with a position.
///
/// Objects built for iproute2 (`tc`) use `struct bpf_elf_map`, whose extra
/// fields are `id`, `pinning`, `inner_id` and `inner_idx`; aya-ebpf's legacy
/// `bpf_map_def` has the first two of them (`id`, `pinning`), at the same
/// offsets. [`iproute2`](MapExtra::iproute2) reads whichever of these fields
/// the definition holds through a typed view; bytes beyond them are
/// [`unknown`](MapExtra::unknown).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, DeepCopy)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MapExtra {
    bytes: Box<[u8]>,
    order: ByteOrder,
}

/// iproute2's fields after the 20-byte `struct bpf_map_def`, in the object's byte
/// order (`struct bpf_elf_map` in iproute2's `include/bpf_elf.h`).
#[derive(FromBytes, KnownLayout, Immutable, Debug, Clone, Copy)]
#[repr(C)]
struct ElfMapTail<O: zerocopy::ByteOrder> {
    id: U32<O>,
    pinning: U32<O>,
    inner_id: U32<O>,
    inner_idx: U32<O>,
}

/// The interpreted iproute2 fields of a legacy definition's extra bytes
/// (0 for a field the definition is too short to hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Iproute2Fields {
    /// The map's id, referred to by an outer map's `inner_id`.
    pub id: u32,
    /// `PIN_NONE` (0), `PIN_OBJECT_NS` (1) or `PIN_GLOBAL_NS` (2); aya's
    /// `PinningType` uses 0 (none) and 1 (by name). Both 1 and 2 become
    /// [`Pinning::ByName`].
    ///
    /// Larger values are real too: iproute2 looks them up in
    /// `/etc/iproute2/bpf_pinning`, which maps each number to a custom
    /// pinning namespace (a sub-directory of tc's bpffs directory). This
    /// library does not read that file: such a map keeps its definition and
    /// `Pinning::None` in the spec, and [`MapExtra::unsupported`] reports it so
    /// a loader refuses it instead of creating it unpinned.
    pub pinning: u32,
    /// For a map-in-map: the `id` of its inner maps.
    pub inner_id: u32,
    /// For an inner map: its slot in the outer map; -1 (`u32::MAX`) for a map
    /// that is only a template and fills no slot.
    pub inner_idx: u32,
}

impl Iproute2Fields {
    /// iproute2's `PIN_GLOBAL_NS`, the largest pinning value this library
    /// handles; larger ones are custom pinning namespaces.
    pub const PIN_GLOBAL_NS: u32 = 2;
}

/// Why a legacy map definition cannot be honoured as it is written (see
/// [`MapExtra::unsupported`]). Its `Display` is a message for the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum UnsupportedExtra {
    /// Extra bytes nobody interprets, some of them non-zero.
    #[error(
        "the legacy definition has {len} extra bytes no loader understands ({hex}), and some are not zero"
    )]
    UnknownBytes {
        /// How many bytes are not interpreted ([`MapExtra::unknown`]).
        len: usize,
        /// All the extra bytes, in lowercase hex.
        hex: String,
    },
    /// An iproute2 pinning value above 2: a custom pinning namespace from
    /// `/etc/iproute2/bpf_pinning`.
    #[error(
        "iproute2 pinning value {0} (a custom pinning namespace from /etc/iproute2/bpf_pinning) is not supported"
    )]
    CustomPinning(u32),
}

impl MapExtra {
    /// The size of iproute2's fields after `struct bpf_map_def`.
    pub const IPROUTE2_LEN: usize = 16;

    /// Extra bytes in the byte order of the object they came from.
    pub fn new(bytes: impl Into<Box<[u8]>>, order: ByteOrder) -> Self {
        MapExtra {
            bytes: bytes.into(),
            order,
        }
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The byte order of the fields.
    pub fn byte_order(&self) -> ByteOrder {
        self.order
    }

    /// True when there are no extra bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// How many leading extra bytes are iproute2 fields: whole 4-byte fields,
    /// at most 16.
    pub fn interpreted_len(&self) -> usize {
        self.bytes.len().min(Self::IPROUTE2_LEN) / 4 * 4
    }

    /// The iproute2 fields the extra bytes hold (missing ones are 0), or `None`
    /// when there is not even an `id`.
    pub fn iproute2(&self) -> Option<Iproute2Fields> {
        fn read<O: zerocopy::ByteOrder>(b: &[u8]) -> Option<Iproute2Fields> {
            let (tail, _) = ElfMapTail::<O>::ref_from_prefix(b).ok()?;
            Some(Iproute2Fields {
                id: tail.id.get(),
                pinning: tail.pinning.get(),
                inner_id: tail.inner_id.get(),
                inner_idx: tail.inner_idx.get(),
            })
        }
        let len = self.interpreted_len();
        if len == 0 {
            return None;
        }
        let mut fields = [0u8; Self::IPROUTE2_LEN];
        fields[..len].copy_from_slice(&self.bytes[..len]);
        match self.order {
            ByteOrder::Little => read::<LittleEndian>(&fields),
            ByteOrder::Big => read::<BigEndian>(&fields),
        }
    }

    /// The bytes nobody interprets: those after the iproute2 fields (and a
    /// trailing partial field).
    pub fn unknown(&self) -> &[u8] {
        &self.bytes[self.interpreted_len()..]
    }

    /// True when some uninterpreted byte is non-zero. A loader should check
    /// [`unsupported`](Self::unsupported), which also covers this.
    pub fn has_unknown_nonzero(&self) -> bool {
        self.unknown().iter().any(|&b| b != 0)
    }

    /// Why these extra bytes ask for something this library cannot honour,
    /// if they do: non-zero bytes nobody interprets, or an iproute2 custom
    /// pinning namespace (a pinning value above 2, see
    /// [`Iproute2Fields::pinning`]). A loader refuses such a map with this
    /// message rather than create it differently from what the object asks.
    ///
    /// ```
    /// use ebpf_spec::{ByteOrder, MapExtra, UnsupportedExtra};
    /// // iproute2's id, pinning, inner_id, inner_idx: pinning 3.
    /// let extra = MapExtra::new([0, 0, 0, 0, 3, 0, 0, 0], ByteOrder::Little);
    /// assert_eq!(extra.unsupported(), Some(UnsupportedExtra::CustomPinning(3)));
    /// assert_eq!(
    ///     extra.unsupported().unwrap().to_string(),
    ///     "iproute2 pinning value 3 (a custom pinning namespace from /etc/iproute2/bpf_pinning) is not supported"
    /// );
    /// assert_eq!(MapExtra::new([0; 8], ByteOrder::Little).unsupported(), None);
    /// ```
    pub fn unsupported(&self) -> Option<UnsupportedExtra> {
        if self.has_unknown_nonzero() {
            return Some(UnsupportedExtra::UnknownBytes {
                len: self.unknown().len(),
                hex: self.to_hex(),
            });
        }
        self.iproute2()
            .map(|f| f.pinning)
            .filter(|&p| p > Iproute2Fields::PIN_GLOBAL_NS)
            .map(UnsupportedExtra::CustomPinning)
    }

    /// Lowercase hex of the bytes (`""` when empty).
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        let mut s = String::with_capacity(self.bytes.len() * 2);
        for b in self.bytes.iter() {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

/// Everything needed to create one kernel map.
///
/// Fields are public: edit them before loading (`max_entries` per tenant,
/// `pinning`, `contents`).
///
/// ```
/// use ebpf_spec::{MapSpec, MapType, MapFlags, Pinning, DeepCopy};
///
/// let mut spec = MapSpec::new("flows", MapType::Hash, 4, 8, 1024);
/// spec.flags |= MapFlags::NO_PREALLOC;
/// spec.pinning = Pinning::ByName;
///
/// let copy = spec.deep_copy();
/// assert_eq!(copy, spec);
/// assert!(spec.compatible(&copy).is_ok());
///
/// let mut bigger = copy;
/// bigger.max_entries = 4096;
/// let err = spec.compatible(&bigger).unwrap_err();
/// assert_eq!(err.mismatches[0].attribute, "max_entries");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, DeepCopy)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MapSpec {
    /// The map's name (its symbol or section name in the object).
    pub name: Name,
    /// The map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `map_flags`.
    #[cfg_attr(feature = "serde", serde(with = "flags_serde"))]
    pub flags: MapFlags,
    /// Pinning by name under the loader's pin path.
    pub pinning: Pinning,
    /// The NUMA node to allocate on (used with `MapFlags::NUMA_NODE`).
    pub numa_node: u32,
    /// `map_extra` (bloom filter hash count, arena address).
    pub map_extra: u64,
    /// For map-in-map types: the template the inner maps follow.
    pub inner_map: Option<Box<MapSpec>>,
    /// Initial contents, written after creation. For a per-CPU map
    /// ([`MapType::is_per_cpu`]), a value (`value_size` bytes) is the initial
    /// value on every CPU. For an arena
    /// ([`MapType::Arena`]), at most one entry, with an empty key (arena keys
    /// are 0 bytes): the initial bytes of the object's `__arena` globals
    /// (section `.addr_space.1`), which a loader writes into the arena.
    pub contents: Vec<MapEntry>,
    /// BTF type id of the key in the collection's BTF (0: none).
    pub btf_key_type_id: u32,
    /// BTF type id of the value in the collection's BTF (0: none).
    pub btf_value_type_id: u32,
    /// Made read-only for user space after its contents are written
    /// (`.rodata`, `.kconfig`).
    pub freeze: bool,
    /// Bytes of a legacy definition beyond `struct bpf_map_def`.
    pub extra: MapExtra,
    /// Whether a loader creates this map (libbpf's `autocreate`). `true`
    /// but for the maps of libbpf's optional sections (`?.struct_ops`,
    /// `?.struct_ops.link`), which are created only when asked: a loader
    /// skips a map with `false`, and the struct_ops programs only such maps
    /// refer to.
    #[cfg_attr(feature = "serde", serde(default = "yes"))]
    pub autocreate: bool,
}

#[cfg(feature = "serde")]
pub(crate) fn yes() -> bool {
    true
}

#[cfg(feature = "serde")]
mod flags_serde {
    use super::MapFlags;
    pub fn serialize<S: serde::Serializer>(f: &MapFlags, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(f.bits())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<MapFlags, D::Error> {
        <u32 as serde::Deserialize>::deserialize(d).map(MapFlags::from_bits_retain)
    }
}

impl MapSpec {
    /// A spec with the given type and sizes and everything else at its default.
    pub fn new(
        name: impl Into<Name>,
        map_type: MapType,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> Self {
        MapSpec {
            name: name.into(),
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: MapFlags::empty(),
            pinning: Pinning::None,
            numa_node: 0,
            map_extra: 0,
            inner_map: None,
            contents: Vec::new(),
            btf_key_type_id: 0,
            btf_value_type_id: 0,
            freeze: false,
            extra: MapExtra::default(),
            autocreate: true,
        }
    }

    /// The structure of callbacks of a struct_ops map: the value of its one
    /// entry, as the reader makes it (`None` for other maps).
    pub fn struct_ops(&self) -> Option<&StructOps> {
        match &self.contents.first()?.value {
            MapValue::StructOps(ops) => Some(ops),
            _ => None,
        }
    }

    /// [`struct_ops`](Self::struct_ops), to edit.
    pub fn struct_ops_mut(&mut self) -> Option<&mut StructOps> {
        match &mut self.contents.first_mut()?.value {
            MapValue::StructOps(ops) => Some(ops),
            _ => None,
        }
    }

    /// Whether this is the map of a data section: an array named `.data`,
    /// `.rodata`, `.bss` (or `.data.*`, `.rodata.*`, `.bss.*`) or `.kconfig`,
    /// as the reader makes them. A loader creates these `BPF_F_MMAPABLE`, so
    /// their variables can be read and written in place.
    pub fn is_global_data(&self) -> bool {
        self.map_type == MapType::Array
            && (self.name == ".kconfig"
                || [".data", ".rodata", ".bss"].iter().any(|p| {
                    self.name
                        .strip_prefix(p)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
                }))
    }

    /// `self.deep_copy()`: a copy that shares nothing with `self`.
    pub fn copy(&self) -> Self {
        self.deep_copy()
    }

    /// Lists every attribute in which `other` (another spec, or a map that
    /// exists in the kernel) differs from this spec: type, key and value size,
    /// max entries, flags, map_extra and the inner map: its attributes when
    /// both have one, `inner_map` (expected/found 1 for present, 0 for absent)
    /// when only one has one. An inner map `other` cannot tell
    /// ([`InnerMap::Unknown`], as for a map in the kernel) is not compared.
    pub fn compatible(&self, other: &impl MapAttributes) -> Result<(), Incompatible> {
        let mut mismatches = Vec::new();
        let mut check = |attribute: &'static str, expected: u64, found: u64| {
            if expected != found {
                mismatches.push(Mismatch {
                    attribute,
                    expected,
                    found,
                });
            }
        };
        check(
            "type",
            self.map_type.raw().into(),
            other.map_type().raw().into(),
        );
        check("key_size", self.key_size.into(), other.key_size().into());
        check(
            "value_size",
            self.value_size.into(),
            other.value_size().into(),
        );
        check(
            "max_entries",
            self.max_entries.into(),
            other.max_entries().into(),
        );
        check(
            "flags",
            self.flags.bits().into(),
            other.flags().bits().into(),
        );
        check("map_extra", self.map_extra, other.map_extra());
        match (&self.inner_map, other.inner_map()) {
            (_, InnerMap::Unknown) | (None, InnerMap::Absent) => {}
            (Some(mine), InnerMap::Present(theirs)) => {
                if let Err(inner) = mine.compatible(theirs) {
                    for m in inner.mismatches {
                        mismatches.push(Mismatch {
                            attribute: inner_name(m.attribute),
                            ..m
                        });
                    }
                }
            }
            (Some(_), InnerMap::Absent) => check("inner_map", 1, 0),
            (None, InnerMap::Present(_)) => check("inner_map", 0, 1),
        }
        if mismatches.is_empty() {
            Ok(())
        } else {
            Err(Incompatible {
                map: self.name.to_string(),
                mismatches,
            })
        }
    }
}

fn inner_name(attr: &'static str) -> &'static str {
    match attr {
        "type" => "inner_map.type",
        "key_size" => "inner_map.key_size",
        "value_size" => "inner_map.value_size",
        "max_entries" => "inner_map.max_entries",
        "flags" => "inner_map.flags",
        "map_extra" => "inner_map.map_extra",
        _ => "inner_map",
    }
}

/// The attributes [`MapSpec::compatible`] compares. Implemented by `MapSpec`;
/// the loader implements it for maps that exist in the kernel.
pub trait MapAttributes {
    /// The map type.
    fn map_type(&self) -> MapType;
    /// Key size in bytes.
    fn key_size(&self) -> u32;
    /// Value size in bytes.
    fn value_size(&self) -> u32;
    /// Maximum number of entries.
    fn max_entries(&self) -> u32;
    /// `map_flags`.
    fn flags(&self) -> MapFlags;
    /// `map_extra`.
    fn map_extra(&self) -> u64;
    /// The inner map template: [`InnerMap::Unknown`] by default, for maps
    /// that cannot tell (the kernel does not report a map-in-map's template).
    fn inner_map(&self) -> InnerMap<'_> {
        InnerMap::Unknown
    }
}

/// What a map says about its inner map template ([`MapAttributes::inner_map`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InnerMap<'a> {
    /// The map cannot tell (a map in the kernel): not compared.
    Unknown,
    /// It has none.
    Absent,
    /// This template.
    Present(&'a MapSpec),
}

impl MapAttributes for MapSpec {
    fn map_type(&self) -> MapType {
        self.map_type
    }
    fn key_size(&self) -> u32 {
        self.key_size
    }
    fn value_size(&self) -> u32 {
        self.value_size
    }
    fn max_entries(&self) -> u32 {
        self.max_entries
    }
    fn flags(&self) -> MapFlags {
        self.flags
    }
    fn map_extra(&self) -> u64 {
        self.map_extra
    }
    fn inner_map(&self) -> InnerMap<'_> {
        match &self.inner_map {
            Some(m) => InnerMap::Present(m),
            None => InnerMap::Absent,
        }
    }
}

/// One attribute in which two maps differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The attribute: `type`, `key_size`, `value_size`, `max_entries`, `flags`,
    /// `map_extra`, `inner_map` (1 present, 0 absent), or
    /// `inner_map.<attribute>`.
    pub attribute: &'static str,
    /// The spec's value.
    pub expected: u64,
    /// The other map's value.
    pub found: u64,
}

/// Every attribute in which a map differs from its spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("map `{map}` is incompatible: {}", list(.mismatches))]
pub struct Incompatible {
    /// The spec's map name.
    pub map: String,
    /// Each differing attribute.
    pub mismatches: Vec<Mismatch>,
}

fn list(m: &[Mismatch]) -> String {
    m.iter()
        .map(|m| {
            format!(
                "{} is {} but {} was expected",
                m.attribute,
                m.show(m.found),
                m.show(m.expected)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Mismatch {
    /// A value of this attribute as the message shows it: a map type by its
    /// name and number (`hash (1)`), flags in hex, the rest in decimal.
    fn show(&self, value: u64) -> String {
        let attribute = self.attribute.rsplit('.').next().unwrap_or(self.attribute);
        match (attribute, u32::try_from(value)) {
            ("type", Ok(raw)) => format!("{} ({raw})", MapType::from_raw(raw).name()),
            ("flags", _) => format!("{value:#x}"),
            _ => value.to_string(),
        }
    }
}
