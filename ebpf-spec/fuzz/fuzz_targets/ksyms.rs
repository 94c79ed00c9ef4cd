//! Fuzz target: `btf::ksyms_for_kernel` on any BTF blob the parser accepts
//! (the loader rewrites every object's `.ksyms` before loading it) must
//! return a blob the parser reads back, or a `BtfError`: never panic.
#![no_main]

use ebpf_spec::ByteOrder;
use ebpf_spec::btf::{Btf, ksyms_for_kernel};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the byte order; the rest is the blob.
    let Some((&order, blob)) = data.split_first() else {
        return;
    };
    let order = if order & 1 == 0 {
        ByteOrder::Little
    } else {
        ByteOrder::Big
    };
    let Ok(btf) = Btf::parse(blob, order) else {
        return;
    };
    match ksyms_for_kernel(&btf, blob) {
        Ok(Some(fixed)) => {
            if let Err(e) = Btf::parse(&fixed, order) {
                panic!("the rewrite made BTF the parser refuses: {e}");
            }
        }
        Ok(None) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
