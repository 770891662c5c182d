//! A map of a few entries kept as a sorted vector: a flow's per-day counters and its open
//! request bodies (one or two entries in nearly every flow) without a B-tree leaf of up to
//! a kilobyte each — which, times the connections held at once, was most of the content
//! ledger's memory on many short flows. Same order of iteration as a `BTreeMap`. The vector
//! grows one entry at a time while short ([`exfilmeter_flow::lean`]).

/// See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct SmallMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap(Vec::new())
    }
}

/// A place in a [`SmallMap`], filled or not.
pub(crate) struct Entry<'a, K, V> {
    entries: &'a mut Vec<(K, V)>,
    at: Result<usize, usize>,
    key: K,
}

impl<'a, K, V> Entry<'a, K, V> {
    /// The value, inserting `v` first when there is none.
    pub(crate) fn or_insert(self, v: V) -> &'a mut V {
        let i = match self.at {
            Ok(i) => i,
            Err(i) => {
                exfilmeter_flow::lean::insert(self.entries, i, (self.key, v));
                i
            }
        };
        &mut self.entries[i].1
    }

    /// The value, inserting the default first when there is none.
    pub(crate) fn or_default(self) -> &'a mut V
    where
        V: Default,
    {
        self.or_insert(V::default())
    }
}

impl<K: Ord + Copy, V> SmallMap<K, V> {
    fn find(&self, k: &K) -> Result<usize, usize> {
        // Keys arrive mostly in order: try the end first.
        match self.0.last() {
            Some((last, _)) if last < k => Err(self.0.len()),
            _ => self.0.binary_search_by(|(x, _)| x.cmp(k)),
        }
    }

    /// Whether `k` has a value.
    pub(crate) fn contains_key(&self, k: &K) -> bool {
        self.find(k).is_ok()
    }

    /// The value of `k`.
    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.find(k).ok().map(|i| &self.0[i].1)
    }

    /// The value of `k`, to change.
    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.find(k).ok().map(|i| &mut self.0[i].1)
    }

    /// Sets the value of `k`; returns the one it replaced.
    pub(crate) fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, v)),
            Err(i) => {
                exfilmeter_flow::lean::insert(&mut self.0, i, (k, v));
                None
            }
        }
    }

    /// The place of `k`.
    pub(crate) fn entry(&mut self, k: K) -> Entry<'_, K, V> {
        let at = self.find(&k);
        Entry {
            entries: &mut self.0,
            at,
            key: k,
        }
    }

    /// Keys in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }
}

impl<K, V> IntoIterator for SmallMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_like_a_btree_map_for_any_order_of_keys() {
        let keys = [5i32, 3, 9, 3, 1, 12, 5, 7, 0, 12, -4];
        let mut a: SmallMap<i32, u64> = SmallMap::default();
        let mut b: BTreeMap<i32, u64> = BTreeMap::new();
        for (n, k) in keys.iter().enumerate() {
            *a.entry(*k).or_default() += n as u64;
            *b.entry(*k).or_default() += n as u64;
            if n % 3 == 0 {
                assert_eq!(a.insert(*k + 100, 1), b.insert(*k + 100, 1));
            }
            assert_eq!(a.get(k), b.get(k));
            assert_eq!(a.contains_key(&(k + 1)), b.contains_key(&(k + 1)));
        }
        let from_a: Vec<(i32, u64)> = (&a).into_iter().map(|(k, v)| (*k, *v)).collect();
        let from_b: Vec<(i32, u64)> = b.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(from_a, from_b);
        assert_eq!(a.keys().next(), b.keys().next());
        *a.entry(3).or_insert(0) += 1;
        *b.entry(3).or_insert(0) += 1;
        if let Some(v) = a.get_mut(&9) {
            *v += 10;
        }
        if let Some(v) = b.get_mut(&9) {
            *v += 10;
        }
        assert_eq!(
            a.into_iter().collect::<Vec<_>>(),
            b.into_iter().collect::<Vec<_>>()
        );
    }
}
