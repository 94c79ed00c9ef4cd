//! `Collection`: the kernel objects created from one `CollectionSpec`.

use aya::maps::{Map, MapData, MapError};
use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The maps created (or reused from pins) for one collection, by name.
///
/// Each map is an owned file descriptor; [`take_map`](Collection::take_map)
/// hands it out as an aya map, so the typed aya APIs apply:
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let spec = ebpf_spec::CollectionSpec::default();
/// let mut coll = ebpf_loader::Loader::new().load(&spec)?;
/// let counters: aya::maps::Array<_, u64> = coll.take_map("counters").unwrap()?.try_into()?;
/// # Ok(()) }
/// ```
/// Dropping a collection closes its maps; pins stay.
#[derive(Debug)]
pub struct Collection {
    pub(crate) maps: BTreeMap<String, OwnedFd>,
    pub(crate) pins_created: Vec<PathBuf>,
    pub(crate) pins_reused: Vec<PathBuf>,
    /// Maps reused from a pin or a replacement (their slots are left as found).
    pub(crate) reused: Vec<String>,
}

impl Collection {
    /// The file descriptor of map `name`.
    pub fn map_fd(&self, name: &str) -> Option<BorrowedFd<'_>> {
        self.maps.get(name).map(|fd| fd.as_fd())
    }

    /// The kernel's id of map `name` (`None` if there is no such map).
    pub fn map_id(&self, name: &str) -> Option<std::io::Result<u32>> {
        let fd = self.maps.get(name)?;
        Some(crate::sys::map_info(fd.as_fd()).map(|i| i.id))
    }

    /// The names of the maps still in the collection, sorted.
    pub fn map_names(&self) -> impl Iterator<Item = &str> {
        self.maps.keys().map(String::as_str)
    }

    /// How many maps the collection holds.
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// True when the collection holds no map.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// Takes map `name` out of the collection as an aya map (`None` if there is
    /// no such map, or it was taken already). Convert it to a typed map with
    /// `TryFrom`: `aya::maps::HashMap::<_, K, V>::try_from(map)`.
    pub fn take_map(&mut self, name: &str) -> Option<Result<Map, MapError>> {
        let fd = self.maps.remove(name)?;
        Some(MapData::from_fd(fd).and_then(Map::from_map_data))
    }

    /// Pins this load created (removed again if the load had failed).
    pub fn pins_created(&self) -> &[PathBuf] {
        &self.pins_created
    }

    /// Pins that existed and were reused after a compatibility check.
    pub fn pins_reused(&self) -> &[PathBuf] {
        &self.pins_reused
    }

    /// Whether `path` is one of this collection's pins.
    pub fn is_pinned_at(&self, path: &Path) -> bool {
        self.pins_created
            .iter()
            .chain(&self.pins_reused)
            .any(|p| p == path)
    }
}
