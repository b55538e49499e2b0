//! Copy-on-write containers for the engine's large state, so that a snapshot never stops the
//! engine for longer than a few milliseconds whatever the state's size.
//!
//! A `CowMap` is a hash map split into shards, a `CowVec` and a `CowDeque` a vector and a
//! deque split into chunks. Each
//! shard or chunk is the engine's own (in place: reads and writes cost what a plain map's do,
//! no reference count is touched) until `Share::share` hands a snapshot the whole container: then
//! every part becomes shared (behind an `Arc`), which costs an allocation per part (64 for a
//! map, one per 1,024 elements for a vector or deque), so `Engine::snapshot` takes the whole state in
//! well under a millisecond and another thread serializes it. The engine goes on meanwhile:
//! the first change to a shared part takes it back, copying it only if the snapshot still
//! holds it, never more than that part, so no step pays for more than a 64th of a map. Once
//! the snapshot is written and dropped, taking a part back copies nothing.
//!
//! Both serialize exactly as the `HashMap` and `VecDeque` they replace (a map, a sequence).

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::collections::hash_map::{self, HashMap};
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash};
use std::marker::PhantomData;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::store::KeyHasher;

/// Shards of a map.
const SHARDS: usize = 64;

/// Elements of a deque's chunk.
const CHUNK: usize = 1024;

/// What a snapshot takes of the engine's state: a handle to the same data, which the engine
/// copies only where it changes it afterwards. `&mut`: sharing marks the parts shared.
pub trait Share {
    fn share(&mut self) -> Self;
}

/// A shard or chunk: the engine's own (in place: no indirection on the engine's reads), or
/// shared with a snapshot.
enum Part<T> {
    Owned(T),
    Shared(Arc<T>),
}

impl<T> Part<T> {
    fn new(value: T) -> Part<T> {
        Part::Owned(value)
    }

    fn get(&self) -> &T {
        match self {
            Part::Owned(owned) => owned,
            Part::Shared(shared) => shared,
        }
    }

    #[cfg(test)]
    fn is_shared(&self) -> bool {
        matches!(self, Part::Shared(_))
    }
}

impl<T: Clone + Default> Part<T> {
    /// The part, to change: taken back if shared, copied only if a snapshot still holds it.
    fn get_mut(&mut self) -> &mut T {
        if let Part::Shared(shared) = self {
            let owned = match Arc::get_mut(shared) {
                Some(alone) => std::mem::take(alone),
                None => T::clone(shared),
            };
            *self = Part::new(owned);
        }
        match self {
            Part::Owned(owned) => owned,
            // Taken back just above.
            Part::Shared(shared) => Arc::make_mut(shared),
        }
    }

    fn share(&mut self) -> Part<T> {
        if let Part::Owned(owned) = self {
            *self = Part::Shared(Arc::new(std::mem::take(owned)));
        }
        match self {
            Part::Shared(shared) => Part::Shared(shared.clone()),
            // Shared just above.
            Part::Owned(owned) => Part::new(T::clone(owned)),
        }
    }
}

impl<T: Clone> Clone for Part<T> {
    /// A copy of an owned part; a shared one stays shared.
    fn clone(&self) -> Self {
        match self {
            Part::Owned(owned) => Part::new(T::clone(owned)),
            Part::Shared(shared) => Part::Shared(shared.clone()),
        }
    }
}

/// Which shard a key lives in. The same for a key and its borrowed form (`Box<str>` and `str`).
pub trait ShardKey {
    fn shard(&self) -> usize;
}

impl ShardKey for u64 {
    /// Keys are mostly hashes, sometimes counters: mixed, so that both spread over the shards
    /// (and the bits a shard's own table uses stay independent of the shard).
    fn shard(&self) -> usize {
        (self.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize % SHARDS
    }
}

impl ShardKey for str {
    fn shard(&self) -> usize {
        (xxh3_64(self.as_bytes()) >> 56) as usize % SHARDS
    }
}

impl ShardKey for Box<str> {
    fn shard(&self) -> usize {
        (**self).shard()
    }
}

/// A hash map a snapshot shares shard by shard: see the module's documentation. `S` is each
/// shard's hasher (the engine's `KeyHasher` for its hash-valued `u64` keys by default).
pub struct CowMap<K, V, S = BuildHasherDefault<KeyHasher>> {
    shards: Box<[Part<HashMap<K, V, S>>]>,
    len: usize,
}

/// A map keyed by names from outside (pods, services, alert names): hashed with a random
/// seed per shard, like `HashMap`'s default.
pub type NameMap<V> = CowMap<Box<str>, V, hash_map::RandomState>;

impl<K, V, S: Default> Default for CowMap<K, V, S> {
    fn default() -> Self {
        CowMap {
            shards: (0..SHARDS).map(|_| Part::new(HashMap::with_hasher(S::default()))).collect(),
            len: 0,
        }
    }
}

impl<K: Clone, V: Clone, S: Clone> Clone for CowMap<K, V, S> {
    /// A copy (of what is the engine's own; what a snapshot shares stays shared).
    fn clone(&self) -> Self {
        CowMap { shards: self.shards.clone(), len: self.len }
    }
}

impl<K: Clone, V: Clone, S: Clone + Default> Share for CowMap<K, V, S> {
    fn share(&mut self) -> Self {
        CowMap { shards: self.shards.iter_mut().map(Part::share).collect(), len: self.len }
    }
}

impl<K, V, S> CowMap<K, V, S> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the map would allocate if it grew now: a shard near full doubles, briefly
    /// holding both tables (one shard at a time, so the largest one's).
    pub fn growth_bytes(&self) -> u64 {
        let entry = std::mem::size_of::<(K, V)>() as u64 + 1;
        self.shards
            .iter()
            .map(Part::get)
            .filter(|shard| shard.len() + shard.len() / 8 + 8 >= shard.capacity())
            .map(|shard| (shard.capacity() as u64 * 2 + 8) * entry)
            .max()
            .unwrap_or(0)
    }

    /// Shard by shard; within a shard in its table's order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(|shard| shard.get().iter())
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(key, _)| key)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }
}

impl<K, V, S> CowMap<K, V, S>
where
    K: Eq + Hash + ShardKey + Clone,
    V: Clone,
    S: BuildHasher + Clone + Default,
{
    fn shard_of<Q: ShardKey + ?Sized>(key: &Q) -> usize {
        key.shard()
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ShardKey + ?Sized,
    {
        self.shards[Self::shard_of(key)].get().get(key)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ShardKey + ?Sized,
    {
        self.shards[Self::shard_of(key)].get().contains_key(key)
    }

    /// The shard `key` lives in, to change; `None` if it is shared and `key` is not there
    /// (nothing to change: nothing is copied).
    fn shard_with<Q>(&mut self, key: &Q) -> Option<&mut HashMap<K, V, S>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ShardKey + ?Sized,
    {
        let shard = &mut self.shards[Self::shard_of(key)];
        if let Part::Shared(shared) = shard
            && !shared.contains_key(key)
        {
            return None;
        }
        Some(shard.get_mut())
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ShardKey + ?Sized,
    {
        self.shard_with(key)?.get_mut(key)
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let old = self.shards[Self::shard_of(&key)].get_mut().insert(key, value);
        self.len += usize::from(old.is_none());
        old
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ShardKey + ?Sized,
    {
        let removed = self.shard_with(key)?.remove(key);
        self.len -= usize::from(removed.is_some());
        removed
    }

    /// The value of `key`, inserting `make()` first if there is none.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        match self.shards[Self::shard_of(&key)].get_mut().entry(key) {
            hash_map::Entry::Occupied(occupied) => occupied.into_mut(),
            hash_map::Entry::Vacant(vacant) => {
                self.len += 1;
                vacant.insert(make())
            }
        }
    }

    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        self.get_or_insert_with(key, V::default)
    }

    /// Every value, to change: takes back every shard a snapshot shares (for reloads and
    /// restores, not for steps).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.shards.iter_mut().flat_map(|shard| shard.get_mut().values_mut())
    }

    /// Keeps the entries `keep` says to keep, calling it once for each. A shard a snapshot
    /// shares is taken back only if something in it goes.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        for shard in self.shards.iter_mut() {
            let before = shard.get().len();
            match shard {
                Part::Owned(owned) => owned.retain(|key, value| keep(key, value)),
                Part::Shared(shared) => {
                    let gone: Vec<K> = shared
                        .iter()
                        .filter(|(key, value)| !keep(key, value))
                        .map(|(key, _)| key.clone())
                        .collect();
                    if !gone.is_empty() {
                        let owned = shard.get_mut();
                        for key in &gone {
                            owned.remove(key);
                        }
                    }
                }
            }
            self.len -= before - shard.get().len();
        }
    }
}

impl<K, V, S> FromIterator<(K, V)> for CowMap<K, V, S>
where
    K: Eq + Hash + ShardKey + Clone,
    V: Clone,
    S: BuildHasher + Clone + Default,
{
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = CowMap::default();
        for (key, value) in entries {
            map.insert(key, value);
        }
        map
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S> fmt::Debug for CowMap<K, V, S> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_map().entries(self.iter()).finish()
    }
}

impl<K, V, S> PartialEq for CowMap<K, V, S>
where
    K: Eq + Hash,
    V: PartialEq,
    S: BuildHasher,
{
    fn eq(&self, other: &Self) -> bool {
        self.shards.iter().zip(other.shards.iter()).all(|(mine, theirs)| mine.get() == theirs.get())
    }
}

impl<K: Serialize, V: Serialize, S> Serialize for CowMap<K, V, S> {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self.iter() {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de, K, V, S> Deserialize<'de> for CowMap<K, V, S>
where
    K: Deserialize<'de> + Eq + Hash + ShardKey + Clone,
    V: Deserialize<'de> + Clone,
    S: BuildHasher + Clone + Default,
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<K, V, S>(PhantomData<(K, V, S)>);
        impl<'de, K, V, S> serde::de::Visitor<'de> for Visitor<K, V, S>
        where
            K: Deserialize<'de> + Eq + Hash + ShardKey + Clone,
            V: Deserialize<'de> + Clone,
            S: BuildHasher + Clone + Default,
        {
            type Value = CowMap<K, V, S>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = CowMap::default();
                while let Some((key, value)) = access.next_entry()? {
                    map.insert(key, value);
                }
                Ok(map)
            }
        }
        deserializer.deserialize_map(Visitor(PhantomData))
    }
}

/// A vector a snapshot shares chunk by chunk (1,024 elements each): see the module's
/// documentation. What the alert table keeps its alerts in: an index is a shift and a mask.
pub struct CowVec<T> {
    chunks: Vec<Part<Vec<T>>>,
    len: usize,
}

/// `CHUNK` as a shift.
const CHUNK_BITS: u32 = CHUNK.trailing_zeros();

impl<T> Default for CowVec<T> {
    fn default() -> Self {
        CowVec { chunks: Vec::new(), len: 0 }
    }
}

impl<T: Clone> Clone for CowVec<T> {
    /// A copy (of what is the engine's own; what a snapshot shares stays shared).
    fn clone(&self) -> Self {
        CowVec { chunks: self.chunks.clone(), len: self.len }
    }
}

impl<T: Clone> Share for CowVec<T> {
    fn share(&mut self) -> Self {
        CowVec { chunks: self.chunks.iter_mut().map(Part::share).collect(), len: self.len }
    }
}

impl<T> CowVec<T> {
    /// The bytes of one chunk of elements.
    pub const CHUNK_BYTES: u64 = (CHUNK * std::mem::size_of::<T>()) as u64;

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, index: usize) -> Option<&T> {
        self.chunks.get(index >> CHUNK_BITS)?.get().get(index & (CHUNK - 1))
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|chunk| chunk.get().iter())
    }
}

impl<T: Clone> CowVec<T> {
    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.chunks.get_mut(index >> CHUNK_BITS)?.get_mut().get_mut(index & (CHUNK - 1))
    }

    pub fn push(&mut self, value: T) {
        if self.len & (CHUNK - 1) == 0 {
            self.chunks.push(Part::new(Vec::with_capacity(CHUNK)));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.get_mut().push(value);
            self.len += 1;
        }
    }

    pub fn pop(&mut self) -> Option<T> {
        let chunk = self.chunks.last_mut()?;
        let value = chunk.get_mut().pop();
        if chunk.get().is_empty() {
            self.chunks.pop();
        }
        self.len -= usize::from(value.is_some());
        value
    }

    /// Removes element `index`, putting the last one in its place.
    pub fn swap_remove(&mut self, index: usize) -> Option<T> {
        if index >= self.len {
            return None;
        }
        let last = self.pop()?;
        match self.get_mut(index) {
            Some(slot) => Some(std::mem::replace(slot, last)),
            // It was the last one.
            None => Some(last),
        }
    }

    /// Every element, to change: takes back every chunk a snapshot shares (for reloads and
    /// restores, not for steps).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks.iter_mut().flat_map(|chunk| chunk.get_mut().iter_mut())
    }
}

/// A double-ended queue a snapshot shares chunk by chunk (1,024 elements each): see the
/// module's documentation. Every chunk but the first and the last is full, so an index finds
/// its chunk by arithmetic.
pub struct CowDeque<T> {
    chunks: VecDeque<Part<VecDeque<T>>>,
    len: usize,
}

impl<T> Default for CowDeque<T> {
    fn default() -> Self {
        CowDeque { chunks: VecDeque::new(), len: 0 }
    }
}

impl<T: Clone> Clone for CowDeque<T> {
    /// A copy (of what is the engine's own; what a snapshot shares stays shared).
    fn clone(&self) -> Self {
        CowDeque { chunks: self.chunks.clone(), len: self.len }
    }
}

impl<T: Clone> Share for CowDeque<T> {
    fn share(&mut self) -> Self {
        CowDeque { chunks: self.chunks.iter_mut().map(Part::share).collect(), len: self.len }
    }
}

impl<T> CowDeque<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunk and the place in it of element `index`.
    fn locate(&self, index: usize) -> Option<(usize, usize)> {
        if index >= self.len {
            return None;
        }
        let first = self.chunks.front().map_or(0, |chunk| chunk.get().len());
        Some(if index < first { (0, index) } else { (1 + (index - first) / CHUNK, (index - first) % CHUNK) })
    }

    pub fn get(&self, index: usize) -> Option<&T> {
        let (chunk, at) = self.locate(index)?;
        self.chunks.get(chunk)?.get().get(at)
    }

    pub fn front(&self) -> Option<&T> {
        self.get(0)
    }

    pub fn back(&self) -> Option<&T> {
        self.len.checked_sub(1).and_then(|last| self.get(last))
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.chunks.iter().flat_map(|chunk| chunk.get().iter())
    }
}

impl<T: Clone> CowDeque<T> {
    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        let (chunk, at) = self.locate(index)?;
        self.chunks.get_mut(chunk)?.get_mut().get_mut(at)
    }

    pub fn push_back(&mut self, value: T) {
        if self.chunks.back().is_none_or(|chunk| chunk.get().len() >= CHUNK) {
            self.chunks.push_back(Part::new(VecDeque::with_capacity(CHUNK)));
        }
        if let Some(chunk) = self.chunks.back_mut() {
            chunk.get_mut().push_back(value);
            self.len += 1;
        }
    }

    pub fn pop_back(&mut self) -> Option<T> {
        let chunk = self.chunks.back_mut()?;
        let value = chunk.get_mut().pop_back();
        if chunk.get().is_empty() {
            self.chunks.pop_back();
        }
        self.len -= usize::from(value.is_some());
        value
    }

    pub fn pop_front(&mut self) -> Option<T> {
        let chunk = self.chunks.front_mut()?;
        let value = chunk.get_mut().pop_front();
        if chunk.get().is_empty() {
            self.chunks.pop_front();
        }
        self.len -= usize::from(value.is_some());
        value
    }

    /// Every element, to change: takes back every chunk a snapshot shares (for reloads and
    /// restores, not for steps).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks.iter_mut().flat_map(|chunk| chunk.get_mut().iter_mut())
    }
}

impl<T: Clone> FromIterator<T> for CowDeque<T> {
    fn from_iter<I: IntoIterator<Item = T>>(values: I) -> Self {
        let mut deque = CowDeque::default();
        for value in values {
            deque.push_back(value);
        }
        deque
    }
}

impl<T: fmt::Debug> fmt::Debug for CowDeque<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_list().entries(self.iter()).finish()
    }
}

impl<T: PartialEq> PartialEq for CowDeque<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<T: Serialize> Serialize for CowDeque<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.len))?;
        for value in self.iter() {
            seq.serialize_element(value)?;
        }
        seq.end()
    }
}

impl<'de, T: Deserialize<'de> + Clone> Deserialize<'de> for CowDeque<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Clone> serde::de::Visitor<'de> for Visitor<T> {
            type Value = CowDeque<T>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut deque = CowDeque::default();
                while let Some(value) = access.next_element()? {
                    deque.push_back(value);
                }
                Ok(deque)
            }
        }
        deserializer.deserialize_seq(Visitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// How many shards a set of keys touches.
    fn shards_of(keys: impl Iterator<Item = u64>) -> usize {
        keys.map(|key| key.shard()).collect::<HashSet<_>>().len()
    }

    /// How many of the map's shards are its own again.
    fn taken_back<K, V, S>(map: &CowMap<K, V, S>) -> usize {
        map.shards.iter().filter(|shard| !shard.is_shared()).count()
    }

    #[test]
    fn a_shared_map_copies_a_shard_only_when_it_changes_one_the_snapshot_holds() {
        let mut map: CowMap<u64, u32> = (0..10_000u64).map(|key| (key, 0)).collect();
        assert_eq!(shards_of(0..10_000), SHARDS, "counters spread over every shard");
        let snapshot = map.share();
        assert_eq!(taken_back(&map), 0);
        // One change takes one shard back; the snapshot keeps what it saw.
        *map.get_mut(&7).unwrap() = 1;
        assert_eq!(taken_back(&map), 1);
        assert_eq!(snapshot.get(&7), Some(&0));
        assert_eq!(map.get(&7), Some(&1));
        // A lookup or removal of an absent key takes nothing back.
        assert_eq!(map.get_mut(&20_000), None);
        assert_eq!(map.remove(&20_000), None);
        assert_eq!(taken_back(&map), 1);
        // Retaining everything takes nothing back; removing one key takes its shard only.
        map.retain(|_, _| true);
        map.retain(|key, _| *key != 9_999);
        assert!(taken_back(&map) <= 2);
        assert_eq!((map.len(), snapshot.len()), (9_999, 10_000));
        assert!(snapshot.contains_key(&9_999));
        assert_ne!(map, snapshot);
        // With the snapshot gone, a shard is taken back without a copy, and a second snapshot
        // sees the changes.
        drop(snapshot);
        map.insert(20_000, 2);
        let again = map.share();
        assert_eq!((again.get(&7), again.get(&20_000), again.len()), (Some(&1), Some(&2), 10_000));
        assert_eq!(again, map);
    }

    #[test]
    fn a_map_serializes_as_a_hash_map() {
        let map: CowMap<u64, String> = (0..100u64).map(|key| (key, key.to_string())).collect();
        let plain: HashMap<u64, String> = (0..100u64).map(|key| (key, key.to_string())).collect();
        let read: HashMap<u64, String> = postcard::from_bytes(&postcard::to_allocvec(&map).unwrap()).unwrap();
        assert_eq!(read, plain);
        let back: CowMap<u64, String> =
            postcard::from_bytes(&postcard::to_allocvec(&plain).unwrap()).unwrap();
        assert_eq!(back, map);
        // Names shard by their text, borrowed or owned.
        let mut names: NameMap<u32> = NameMap::default();
        names.insert("checkout".into(), 1);
        assert_eq!(names.get("checkout"), Some(&1));
        assert_eq!(names.remove("checkout"), Some(1));
        assert!(names.is_empty());
    }

    #[test]
    fn a_vector_indexes_across_chunks_and_a_snapshot_keeps_what_it_saw() {
        let mut vector: CowVec<usize> = CowVec::default();
        let mut model: Vec<usize> = Vec::new();
        for value in 0..5_000 {
            vector.push(value);
            model.push(value);
        }
        let snapshot = vector.share();
        for step in 0..3_000 {
            if step % 3 == 0 {
                assert_eq!(vector.pop(), model.pop());
            } else {
                vector.push(step);
                model.push(step);
            }
            let index = step * 7 % model.len();
            *vector.get_mut(index).unwrap() += 1;
            model[index] += 1;
            assert_eq!(vector.swap_remove(index), Some(model.swap_remove(index)));
            assert_eq!((vector.len(), vector.get(index)), (model.len(), model.get(index)));
        }
        assert!(vector.iter().eq(model.iter()));
        assert!(vector.clone().iter_mut().map(|value| *value).eq(model.iter().copied()));
        assert!(snapshot.iter().copied().eq(0..5_000));
        while vector.pop().is_some() {}
        assert!(vector.is_empty() && vector.get(0).is_none() && vector.swap_remove(0).is_none());
    }

    #[test]
    fn a_deque_indexes_across_chunks_as_it_grows_and_shrinks_at_both_ends() {
        let mut deque: CowDeque<usize> = (0..5_000).collect();
        let mut model: VecDeque<usize> = (0..5_000).collect();
        let snapshot = deque.share();
        for step in 0..3_000 {
            match step % 4 {
                0 => assert_eq!(deque.pop_front(), model.pop_front()),
                1 => assert_eq!(deque.pop_back(), model.pop_back()),
                _ => {
                    deque.push_back(step);
                    model.push_back(step);
                }
            }
            let index = step * 7 % model.len();
            assert_eq!(deque.get(index), model.get(index));
            *deque.get_mut(index).unwrap() += 1;
            model[index] += 1;
            assert_eq!(deque.len(), model.len());
        }
        assert!(deque.iter().eq(model.iter()));
        assert_eq!(deque.front(), model.front());
        assert_eq!(deque.back(), model.back());
        // The snapshot saw none of it.
        assert!(snapshot.iter().copied().eq(0..5_000));
        assert!(deque.clone().iter().eq(model.iter()));
        let read: VecDeque<usize> = postcard::from_bytes(&postcard::to_allocvec(&deque).unwrap()).unwrap();
        assert_eq!(read, model);
        while deque.pop_front().is_some() {}
        assert!(deque.is_empty() && deque.get(0).is_none() && deque.pop_back().is_none());
    }
}
