//! A Fenwick (binary indexed) tree of counts: exact "how many live visitors are in front
//! of position p" in O(log n), at 4 bytes per position.

/// Counts per position with prefix sums.
#[derive(Debug, Default, Clone)]
pub struct Fenwick {
    tree: Vec<u32>,
}

impl Fenwick {
    /// Grows the tree to hold positions `0..len`, keeping existing counts.
    pub fn grow(&mut self, len: usize) {
        let old = self.tree.len();
        if len <= old {
            return;
        }
        // Rebuild in O(n): a Fenwick node covers a range that may now extend past `old`.
        let mut values = Vec::with_capacity(len);
        for i in 0..old {
            values.push(self.point(i));
        }
        values.resize(len, 0);
        self.tree = values;
        for i in 0..len {
            let parent = i | (i + 1);
            if parent < len {
                self.tree[parent] += self.tree[i];
            }
        }
    }

    /// Number of positions.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Adds `delta` (±1) at position `i`.
    pub fn add(&mut self, mut i: usize, delta: i32) {
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i |= i + 1;
        }
    }

    /// Sum of counts at positions `0..i` (exclusive).
    pub fn prefix(&self, i: usize) -> u32 {
        let mut i = i.min(self.tree.len());
        let mut sum = 0u32;
        while i > 0 {
            sum = sum.wrapping_add(self.tree[i - 1]);
            i &= i - 1;
        }
        sum
    }

    /// The count at position `i` alone.
    fn point(&self, i: usize) -> u32 {
        self.prefix(i + 1).wrapping_sub(self.prefix(i))
    }
}

#[cfg(test)]
mod tests;
