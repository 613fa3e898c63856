//! `List`: the value of a Redis list, with a stable id for every element.
//!
//! The element at index `i` has id `head + i`. Pushing at the head lowers `head`, popping
//! there raises it, and the tail's ids follow from the length, so an element pushed or
//! popped at either end keeps its id while it lives. Persistence stores a long list in chunks
//! of consecutive ids, which is what makes LPUSH / RPOP on a million-element list cost a
//! fraction of one entry on disk. Edits in the middle go through [`List::items_mut`]; they
//! renumber elements, so the caller journals the whole key.

use std::collections::VecDeque;
use std::ops::Deref;

use bytes::Bytes;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct List {
    head: i64,
    items: VecDeque<Bytes>,
}

impl List {
    pub fn new(items: VecDeque<Bytes>) -> List {
        List { head: 0, items }
    }

    /// A list whose first element has id `head` (restored from disk).
    pub fn with_head(head: i64, items: VecDeque<Bytes>) -> List {
        List { head, items }
    }

    /// The id of the first element.
    pub fn head(&self) -> i64 {
        self.head
    }

    /// The id the next element pushed at the tail gets.
    pub fn tail(&self) -> i64 {
        self.head + self.items.len() as i64
    }

    /// The element with id `id`, if it is in the list.
    pub fn by_id(&self, id: i64) -> Option<&Bytes> {
        let index = id.checked_sub(self.head)?;
        self.items.get(usize::try_from(index).ok()?)
    }

    pub fn push_front(&mut self, item: Bytes) {
        self.items.push_front(item);
        self.head -= 1;
    }

    pub fn push_back(&mut self, item: Bytes) {
        self.items.push_back(item);
    }

    pub fn pop_front(&mut self) -> Option<Bytes> {
        let item = self.items.pop_front()?;
        self.head += 1;
        Some(item)
    }

    pub fn pop_back(&mut self) -> Option<Bytes> {
        self.items.pop_back()
    }

    /// The elements for an arbitrary edit (ids of the elements after the edit point change).
    pub fn items_mut(&mut self) -> &mut VecDeque<Bytes> {
        &mut self.items
    }
}

impl Deref for List {
    type Target = VecDeque<Bytes>;

    fn deref(&self) -> &VecDeque<Bytes> {
        &self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_with_their_elements() {
        let mut l = List::default();
        l.push_back(Bytes::from("b"));
        l.push_front(Bytes::from("a"));
        l.push_back(Bytes::from("c"));
        assert_eq!((l.head(), l.tail()), (-1, 2));
        assert_eq!(l.by_id(-1).map(|b| &b[..]), Some(&b"a"[..]));
        assert_eq!(l.pop_front().as_deref(), Some(&b"a"[..]));
        assert_eq!(l.by_id(0).map(|b| &b[..]), Some(&b"b"[..]));
        assert_eq!(l.by_id(-1), None);
        assert_eq!(l.by_id(2), None);
        assert_eq!(l.pop_back().as_deref(), Some(&b"c"[..]));
        assert_eq!((l.head(), l.tail()), (0, 1));
    }
}
