//! The object `inspect` reads when it is given no FILE.
//!
//! `examples/bpf/default.bpfel.o`, compiled from `examples/bpf/default.bpf.c` by
//! `examples/bpf/build.sh` (clang `-target bpfel -g -O2`, DWARF stripped, BTF
//! kept). One object with the range of what ebpf-spec reads:
//!
//! - legacy `SEC("maps")` definitions in iproute2's 36-byte `struct bpf_elf_map`:
//!   `tc_pinned` (HASH, pinned `PIN_GLOBAL_NS`), `tc_outer` (ARRAY_OF_MAPS,
//!   `inner_id` 7) and `tc_inner` (ARRAY, `id` 7, `inner_idx` 0): the reader makes
//!   `tc_inner` the template of `tc_outer` and its entry at index 0;
//! - BTF-defined `SEC(".maps")` maps: `flows` (HASH with struct key and value,
//!   `BPF_F_NO_PREALLOC`), `events` (RINGBUF), `inner1` and `inner2` (ARRAY),
//!   `outer` (ARRAY_OF_MAPS initialised with `[0] = &inner1, [2] = &inner2`)
//!   and `jump_table` (PROG_ARRAY initialised with `[0] = xdp_tail`,
//!   `[1] = xdp_drop`);
//! - the data sections `.data` (`blocked_port = 53`), `.rodata`
//!   (`const volatile __u32 sample_rate = 7`) and `.bss` (`total_packets`), each
//!   a one-entry ARRAY map;
//! - the programs `xdp_main`, `xdp_tail`, `xdp_drop` (XDP), `tc_main` (SCHED_CLS)
//!   and `sock_main` (SOCKET_FILTER), which all call the sub-program `account`
//!   in `.text`; license "Dual MIT/GPL".
//!
//! Every program passes the kernel's verifier (how it was checked is at the top
//! of `default.bpf.c`).

/// The bytes of `examples/bpf/default.bpfel.o`.
pub const DEFAULT_OBJECT: &[u8] = include_bytes!("../bpf/default.bpfel.o");

/// What `inspect` prints as the object's name when it reads [`DEFAULT_OBJECT`].
pub const DEFAULT_OBJECT_NAME: &str = "the embedded default object (examples/bpf/default.bpf.c)";

#[cfg(test)]
mod tests {
    use super::DEFAULT_OBJECT;
    use ebpf_spec::{ByteOrder, CollectionSpec, MapType, MapValue, Pinning, ProgramType};

    fn index(i: u32) -> Vec<u8> {
        i.to_le_bytes().to_vec()
    }

    #[test]
    fn the_reader_reads_the_default_object_as_intended() {
        let spec = CollectionSpec::from_elf(DEFAULT_OBJECT).expect("default object parses");
        assert_eq!(spec.byte_order, ByteOrder::Little);
        assert_eq!(spec.license, "Dual MIT/GPL");
        let names: Vec<&str> = spec.maps.keys().map(AsRef::<str>::as_ref).collect();
        assert_eq!(
            names,
            [
                ".bss",
                ".data",
                ".rodata",
                "events",
                "flows",
                "inner1",
                "inner2",
                "jump_table",
                "outer",
                "tc_inner",
                "tc_outer",
                "tc_pinned"
            ]
        );

        // Legacy iproute2 definitions: 16 extra bytes each (id, pinning, inner_id, inner_idx).
        let pinned = &spec.maps["tc_pinned"];
        assert_eq!(
            (
                pinned.map_type,
                pinned.key_size,
                pinned.value_size,
                pinned.max_entries
            ),
            (MapType::Hash, 4, 8, 64)
        );
        assert_eq!(pinned.pinning, Pinning::ByName);
        assert_eq!(pinned.extra.to_hex(), "00000000020000000000000000000000");
        let inner = &spec.maps["tc_inner"];
        assert_eq!(
            inner.extra.iproute2().map(|f| (f.id, f.inner_idx)),
            Some((7, 0))
        );
        let outer = &spec.maps["tc_outer"];
        assert_eq!(outer.map_type, MapType::ArrayOfMaps);
        assert_eq!(outer.extra.iproute2().map(|f| f.inner_id), Some(7));
        let template = outer.inner_map.as_deref().expect("tc_outer has a template");
        assert_eq!(
            (
                template.name.as_str(),
                template.map_type,
                template.max_entries
            ),
            ("tc_inner", MapType::Array, 1)
        );
        assert_eq!(outer.contents.len(), 1);
        assert_eq!(outer.contents[0].key, index(0));
        assert_eq!(outer.contents[0].value, MapValue::Map("tc_inner".into()));

        // BTF-defined maps.
        let flows = &spec.maps["flows"];
        assert_eq!(
            (
                flows.map_type,
                flows.key_size,
                flows.value_size,
                flows.max_entries
            ),
            (MapType::Hash, 8, 16, 1024)
        );
        assert_eq!(flows.flags.bits(), 1);
        assert!(flows.btf_key_type_id != 0 && flows.btf_value_type_id != 0);
        assert_eq!(spec.maps["events"].map_type, MapType::RingBuf);
        assert_eq!(spec.maps["events"].max_entries, 4096);
        let outer = &spec.maps["outer"];
        let template = outer.inner_map.as_deref().expect("outer has a template");
        assert_eq!(
            (
                template.map_type,
                template.key_size,
                template.value_size,
                template.max_entries
            ),
            (MapType::Array, 4, 4, 4)
        );
        let slots: Vec<_> = outer
            .contents
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        assert_eq!(
            slots,
            [
                (index(0), MapValue::Map("inner1".into())),
                (index(2), MapValue::Map("inner2".into()))
            ]
        );
        let jumps: Vec<_> = spec.maps["jump_table"]
            .contents
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        assert_eq!(
            jumps,
            [
                (index(0), MapValue::Program("xdp_tail".into())),
                (index(1), MapValue::Program("xdp_drop".into()))
            ]
        );

        // Data sections and their variables.
        assert_eq!(spec.variables["sample_rate"].value, 7u32.to_le_bytes());
        assert!(spec.variables["sample_rate"].constant);
        assert_eq!(spec.variables["blocked_port"].value, 53u32.to_le_bytes());
        assert_eq!(spec.variables["total_packets"].size, 8);
        assert!(spec.maps[".bss"].contents.is_empty());
        assert!(spec.maps[".rodata"].freeze);

        // Programs and the shared sub-program.
        let programs: Vec<_> = spec
            .programs
            .values()
            .map(|p| (p.name.as_str(), p.section.as_str(), p.program_type))
            .collect();
        assert_eq!(
            programs,
            [
                ("sock_main", "socket", ProgramType::SocketFilter),
                ("tc_main", "tc", ProgramType::SchedCls),
                ("xdp_drop", "xdp", ProgramType::Xdp),
                ("xdp_main", "xdp", ProgramType::Xdp),
                ("xdp_tail", "xdp", ProgramType::Xdp),
            ]
        );
        assert_eq!(spec.functions.keys().collect::<Vec<_>>(), ["account"]);
        for name in ["sock_main", "tc_main", "xdp_main"] {
            assert_eq!(
                spec.programs[name].calls().collect::<Vec<_>>(),
                ["account"],
                "{name}"
            );
        }
    }
}
