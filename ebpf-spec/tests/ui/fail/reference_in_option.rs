use ebpf_spec::DeepCopy;

#[derive(DeepCopy)]
enum Data<'a> {
    Inline([u8; 8]),
    External { bytes: Option<&'a [u8]> },
}

fn main() {}
