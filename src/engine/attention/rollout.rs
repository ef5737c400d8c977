//! Attention rollout (Abnar & Zuidema 2020, https://arxiv.org/abs/2005.00928): how much of each token's final
//! state traces back to each input token, through every layer and the residual connections.

/// Attention rollout (Abnar & Zuidema 2020): per layer, average the heads, add the identity for the residual
/// connection and renormalise the rows; multiply the layers from the first up. `weights` is
/// `[layers][heads][n][n]`; returns `[n, n]` whose row i says how much of token i's final state traces back to
/// each input token.
pub fn attention_rollout(weights: &[f32], num_layers: usize, num_heads: usize, n: usize) -> Vec<f32> {
    assert_eq!(weights.len(), num_layers * num_heads * n * n, "attention weights do not match the shape");
    let mut rollout: Vec<f64> = (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect();
    for layer in weights.chunks_exact(num_heads * n * n) {
        let mut a = vec![0.0f64; n * n];
        for head in layer.chunks_exact(n * n) {
            a.iter_mut().zip(head).for_each(|(a, &w)| *a += w as f64);
        }
        for (r, row) in a.chunks_exact_mut(n).enumerate() {
            row.iter_mut().for_each(|x| *x /= num_heads as f64);
            row[r] += 1.0;
            let total: f64 = row.iter().sum();
            row.iter_mut().for_each(|x| *x /= total);
        }
        // rollout ← A · rollout: this layer's mixing applied after everything below it.
        let mut next = vec![0.0f64; n * n];
        for i in 0..n {
            for k in 0..n {
                let aik = a[i * n + k];
                if aik != 0.0 {
                    let (src, dst) = (&rollout[k * n..(k + 1) * n], &mut next[i * n..(i + 1) * n]);
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += aik * s);
                }
            }
        }
        rollout = next;
    }
    rollout.into_iter().map(|x| x as f32).collect()
}

/// Row 0 ([CLS]) of an `[n, n]` matrix without column 0: the patches in grid order.
pub fn cls_to_patches(matrix: &[f32], n: usize) -> Vec<f32> {
    matrix[1..n].to_vec()
}
