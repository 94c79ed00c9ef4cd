//! The generated code names everything by absolute path: it compiles without
//! the prelude.
#![no_implicit_prelude]
#![deny(warnings)]

mod codec {
    pub fn deep_copy(v: &::std::string::String) -> ::std::string::String {
        ::std::string::ToString::to_string(v.as_str())
    }
    pub fn walk_buffers(v: &::std::string::String, walker: &mut ::ebpf_spec::deep_copy::Walker) {
        walker.buffer(v.as_bytes(), "String");
    }
}

#[derive(::ebpf_spec::DeepCopy)]
struct Named<'a, T, const N: usize>
where
    T: ::std::fmt::Debug,
{
    name: ::std::borrow::Cow<'a, str>,
    values: ::std::vec::Vec<[T; N]>,
    #[deep_copy(skip)]
    cached: ::std::option::Option<T>,
    #[deep_copy(with = codec)]
    label: ::std::string::String,
    marker: ::std::marker::PhantomData<&'a ()>,
}

#[derive(::ebpf_spec::DeepCopy)]
struct Tuple(::std::string::String, u8);

#[derive(::ebpf_spec::DeepCopy)]
struct Unit;

#[derive(::ebpf_spec::DeepCopy)]
enum Kind<T> {
    Unit,
    Tuple(T, #[deep_copy(skip)] u32),
    Struct {
        name: ::std::string::String,
        next: ::std::option::Option<::std::boxed::Box<Kind<T>>>,
    },
}

#[derive(::ebpf_spec::DeepCopy)]
enum Never {}

#[derive(::std::clone::Clone, ::std::marker::Copy, ::ebpf_spec::DeepCopy)]
#[deep_copy(plain)]
struct Plain<T>
where
    T: ::std::fmt::Debug,
{
    at: u32,
    value: T,
}

#[derive(::ebpf_spec::DeepCopy)]
#[deep_copy(crate = "::ebpf_spec", bound = "T: ::ebpf_spec::DeepCopy")]
struct WithAttrs<T>(T);

fn main() {
    use ::ebpf_spec::DeepCopy;
    let named: Named<'_, u8, 2> = Named {
        name: ::std::borrow::Cow::Borrowed("n"),
        values: ::std::vec![[1, 2]],
        cached: ::std::option::Option::Some(3),
        label: ::std::string::ToString::to_string("l"),
        marker: ::std::marker::PhantomData,
    };
    let copy = named.deep_copy();
    ::std::assert_eq!(copy.values, named.values);
    ::std::assert!(copy.cached.is_none());
    ::std::assert_eq!(copy.label, "l");
    let _ = (
        Tuple(::std::string::String::new(), 1).deep_copy(),
        Unit.deep_copy(),
    );
    let k = Kind::Struct {
        name: ::std::string::ToString::to_string("s"),
        next: ::std::option::Option::Some(::std::boxed::Box::new(Kind::Tuple(1u8, 2))),
    };
    let _ = (
        k.deep_copy(),
        Kind::<u8>::Unit.deep_copy(),
        WithAttrs(1u8).deep_copy(),
        ::std::vec![Plain { at: 1, value: 2u8 }].deep_copy(),
    );
    fn _never(n: &Never) -> Never {
        n.deep_copy()
    }
}
