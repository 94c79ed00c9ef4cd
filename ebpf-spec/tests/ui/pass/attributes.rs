//! `skip`, `with` (path and string), `bound` and `crate`.
#![deny(warnings)]

use ebpf_spec::DeepCopy;
use std::rc::Rc;

mod codec {
    pub mod nonzero {
        use ebpf_spec::deep_copy::Walker;
        use std::num::NonZeroU32;

        pub fn deep_copy(v: &NonZeroU32) -> NonZeroU32 {
            *v
        }
        pub fn walk_buffers(_: &NonZeroU32, _: &mut Walker) {}
    }

    /// Copies an `Rc<str>` into a new allocation.
    pub mod rc_str {
        use ebpf_spec::deep_copy::Walker;
        use std::rc::Rc;

        pub fn deep_copy(v: &Rc<str>) -> Rc<str> {
            Rc::from(&**v)
        }
        pub fn walk_buffers(v: &Rc<str>, walker: &mut Walker) {
            walker.buffer(&**v, "Rc<str>");
        }
    }

    /// Generic `with` functions carry their own bounds.
    pub mod via_clone {
        use ebpf_spec::deep_copy::Walker;

        pub fn deep_copy<T: Clone>(v: &T) -> T {
            v.clone()
        }
        pub fn walk_buffers<T>(_: &T, _: &mut Walker) {}
    }
}

/// Not `DeepCopy`, but `Default`: fine for a skipped field.
#[derive(Default, Debug, PartialEq)]
struct Stats {
    hits: Rc<u64>,
}

#[derive(DeepCopy, Debug)]
struct Spec<T, C: Clone> {
    name: String,
    #[deep_copy(skip)]
    stats: Stats,
    #[deep_copy(with = codec::nonzero)]
    id: std::num::NonZeroU32,
    #[deep_copy(with = "codec::rc_str")]
    label: Rc<str>,
    /// Skipped and generic: `Option<T>: Default` is required, not `T: DeepCopy`.
    #[deep_copy(skip)]
    cached: Option<T>,
    /// `with` and generic: no bound inferred for `C`; the `with` functions'
    /// bound (`Clone`) is written on the parameter.
    #[deep_copy(with = self::codec::via_clone)]
    clonable: C,
}

/// `bound` replaces the inferred bounds.
#[derive(DeepCopy)]
#[deep_copy(bound = "T: ebpf_spec::DeepCopy + Clone")]
struct Bounded<T> {
    value: T,
}

/// An empty `bound` means none (the `with` functions need nothing).
#[derive(DeepCopy)]
#[deep_copy(bound = "")]
struct Unbounded<T> {
    #[deep_copy(with = codec::via_clone)]
    value: Option<Rc<T>>,
}

mod reexport {
    pub use ebpf_spec as spec;
}

#[derive(DeepCopy)]
#[deep_copy(crate = "ebpf_spec")]
struct CrateString(Vec<u8>);

#[derive(DeepCopy)]
#[deep_copy(crate = ::ebpf_spec)]
struct CratePath(Vec<u8>);

#[derive(ebpf_spec::DeepCopy)]
#[deep_copy(crate = "crate::reexport::spec")]
struct CrateReexport(Vec<u8>);

fn main() {
    let spec = Spec {
        name: "a".into(),
        stats: Stats { hits: Rc::new(5) },
        id: std::num::NonZeroU32::new(7).unwrap(),
        label: Rc::from("label"),
        cached: Some(Rc::new(1u8)),
        clonable: Rc::new(2u8),
    };
    let copy = spec.deep_copy();
    assert_eq!(copy.name, "a");
    assert_eq!(copy.stats, Stats::default());
    assert_eq!(copy.id.get(), 7);
    assert_eq!(&*copy.label, "label");
    assert!(!Rc::ptr_eq(&copy.label, &spec.label));
    assert_eq!(copy.cached, None);
    assert!(Rc::ptr_eq(&copy.clonable, &spec.clonable));

    assert_eq!(Bounded { value: 3u8 }.deep_copy().value, 3);
    let u = Unbounded {
        value: Some(Rc::new(std::cell::Cell::new(1))),
    };
    assert_eq!(u.deep_copy().value.map(|v| v.get()), Some(1));
    assert_eq!(CrateString(vec![1]).deep_copy().0, [1]);
    assert_eq!(CratePath(vec![2]).deep_copy().0, [2]);
    assert_eq!(CrateReexport(vec![3]).deep_copy().0, [3]);
}
