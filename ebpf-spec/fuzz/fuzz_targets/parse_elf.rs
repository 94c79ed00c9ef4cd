//! Fuzz target: `CollectionSpec::from_elf` on arbitrary bytes must return `Ok`
//! or a `ParseError` (never panic, abort or allocate without bound), and every
//! spec it returns must copy deeply.
#![no_main]

use ebpf_spec::deep_copy::assert_deep_copy;
use ebpf_spec::{CollectionSpec, DeepCopy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match CollectionSpec::from_elf(data) {
        Ok(spec) => {
            let copy = spec.deep_copy();
            assert_eq!(copy, spec);
            assert_deep_copy(&spec, &copy);
        }
        Err(e) => {
            // Rendering the message must not panic either.
            let _ = e.to_string();
        }
    }
});
