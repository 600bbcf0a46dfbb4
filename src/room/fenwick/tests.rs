//! Tests for `fenwick`.

use super::Fenwick;

#[test]
fn matches_a_naive_count_while_growing() {
    let mut f = Fenwick::default();
    let mut naive = Vec::new();
    let mut x = 12345u64;
    for round in 0..50 {
        let len = (round + 1) * 37;
        f.grow(len);
        naive.resize(len, 0u32);
        for _ in 0..100 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = (x >> 33) as usize % len;
            if naive[i] == 0 || x & 1 == 0 {
                naive[i] += 1;
                f.add(i, 1);
            } else {
                naive[i] -= 1;
                f.add(i, -1);
            }
        }
        for i in 0..=len {
            assert_eq!(f.prefix(i), naive[..i].iter().sum::<u32>());
        }
    }
}
