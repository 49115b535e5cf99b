//! A FIFO list of waiters with O(1) push, pop and removal by key, in safe
//! code.
//!
//! Every primitive in `sync` keeps its waiters in one of these, inside the
//! primitive's own mutex. A waiting future holds the [`Key`] of its node.
//! A node can be *unlinked* (taken out of the FIFO order, e.g. because it was
//! granted what it waited for) while its value stays allocated, so the future
//! can read the outcome on its next poll, or hand it back when it is dropped
//! first. [`WaitList::remove`] frees the node in either state.
//!
//! Nodes live in a `Vec` with a free list, so a steady stream of waiters does
//! not allocate; a key carries the node's generation, so a stale key (one
//! whose node was freed and reused) finds nothing instead of someone else's
//! node.

/// Names one node of a [`WaitList`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Node<T> {
    generation: u32,
    /// `Some` while allocated.
    value: Option<T>,
    linked: bool,
    prev: u32,
    /// Next in FIFO order while linked; next free node while free.
    next: u32,
}

#[derive(Debug)]
pub(crate) struct WaitList<T> {
    nodes: Vec<Node<T>>,
    head: u32,
    tail: u32,
    free: u32,
    linked: usize,
}

impl<T> Default for WaitList<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> WaitList<T> {
    pub(crate) const fn new() -> Self {
        WaitList {
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            linked: 0,
        }
    }

    /// Whether no node is linked (allocated-but-unlinked nodes don't count).
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// Allocates a node for `value` and links it at the back.
    pub(crate) fn push_back(&mut self, value: T) -> Key {
        let index = if self.free != NIL {
            let index = self.free;
            let node = &mut self.nodes[index as usize];
            self.free = node.next;
            node.value = Some(value);
            index
        } else {
            let index = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("more than 2^32 - 1 waiters on one primitive");
            self.nodes.push(Node {
                generation: 0,
                value: Some(value),
                linked: false,
                prev: NIL,
                next: NIL,
            });
            index
        };
        self.link_back(index);
        Key {
            index,
            generation: self.nodes[index as usize].generation,
        }
    }

    fn link_back(&mut self, index: u32) {
        let tail = self.tail;
        let node = &mut self.nodes[index as usize];
        node.linked = true;
        node.prev = tail;
        node.next = NIL;
        if tail == NIL {
            self.head = index;
        } else {
            self.nodes[tail as usize].next = index;
        }
        self.tail = index;
        self.linked += 1;
    }

    fn node(&self, key: Key) -> Option<&Node<T>> {
        self.nodes
            .get(key.index as usize)
            .filter(|n| n.generation == key.generation && n.value.is_some())
    }

    /// The value of `key`'s node, linked or not; `None` if it was removed.
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        self.node(key)?;
        self.nodes[key.index as usize].value.as_mut()
    }

    /// The key of the first linked node.
    pub(crate) fn front(&self) -> Option<Key> {
        (self.head != NIL).then(|| Key {
            index: self.head,
            generation: self.nodes[self.head as usize].generation,
        })
    }

    /// Takes `key`'s node out of the FIFO order, keeping its value. Returns
    /// the value for the caller to update; `None` if the node is gone.
    pub(crate) fn unlink(&mut self, key: Key) -> Option<&mut T> {
        self.node(key)?;
        let index = key.index;
        if self.nodes[index as usize].linked {
            let (prev, next) = {
                let node = &mut self.nodes[index as usize];
                node.linked = false;
                (
                    std::mem::replace(&mut node.prev, NIL),
                    std::mem::replace(&mut node.next, NIL),
                )
            };
            if prev == NIL {
                self.head = next;
            } else {
                self.nodes[prev as usize].next = next;
            }
            if next == NIL {
                self.tail = prev;
            } else {
                self.nodes[next as usize].prev = prev;
            }
            self.linked -= 1;
        }
        self.nodes[index as usize].value.as_mut()
    }

    /// Unlinks the first linked node and returns its key and value.
    pub(crate) fn pop_front(&mut self) -> Option<(Key, &mut T)> {
        let key = self.front()?;
        let value = self.unlink(key)?;
        Some((key, value))
    }

    /// Frees `key`'s node (linked or not) and returns its value.
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        self.unlink(key)?;
        let free = self.free;
        let node = &mut self.nodes[key.index as usize];
        node.generation = node.generation.wrapping_add(1);
        node.next = free;
        self.free = key.index;
        node.value.take()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn pops_in_push_order_and_skips_removed_nodes() {
        let mut list = WaitList::new();
        let a = list.push_back('a');
        let b = list.push_back('b');
        let c = list.push_back('c');
        assert_eq!(list.remove(b), Some('b'));
        assert_eq!(list.pop_front().map(|(k, v)| (k, *v)), Some((a, 'a')));
        assert_eq!(list.pop_front().map(|(k, v)| (k, *v)), Some((c, 'c')));
        assert!(list.pop_front().is_none());
        assert!(list.is_empty());
        // Unlinked nodes keep their values until removed.
        assert_eq!(list.get_mut(a), Some(&mut 'a'));
        assert_eq!(list.remove(a), Some('a'));
        assert_eq!(list.remove(c), Some('c'));
    }

    #[test]
    fn a_stale_key_finds_nothing_after_its_node_is_reused() {
        let mut list = WaitList::new();
        let old = list.push_back(1);
        assert_eq!(list.remove(old), Some(1));
        let new = list.push_back(2);
        assert_ne!(old, new);
        assert_eq!(list.get_mut(old), None);
        assert_eq!(list.remove(old), None);
        assert_eq!(list.unlink(old), None);
        assert_eq!(list.pop_front().map(|(_, v)| *v), Some(2));
    }

    #[test]
    fn unlinking_the_middle_keeps_both_ends_consistent() {
        let mut list = WaitList::new();
        let keys: Vec<_> = (0..5).map(|i| list.push_back(i)).collect();
        list.unlink(keys[2]);
        list.unlink(keys[4]);
        list.unlink(keys[0]);
        let order: Vec<i32> = std::iter::from_fn(|| list.pop_front().map(|(_, v)| *v)).collect();
        assert_eq!(order, vec![1, 3]);
        let k = list.push_back(9);
        assert_eq!(list.front(), Some(k));
    }
}
