// Elementwise kernels: unary, unary backward, strided/broadcast binary, strided copy.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "kernels.h"
#include "vmath.h"

namespace avgk {

namespace {

// x and out may be the same array (exact in-place), so no __restrict here.
AVGK_INLINE void unary_chunk_body(int op, const float* x, float* out, int64_t n, float p, float q) {
  switch (op) {
    case U_NEG:
      for (int64_t i = 0; i < n; ++i) out[i] = -x[i];
      break;
    case U_EXP:
      for (int64_t i = 0; i < n; ++i) out[i] = vm::exp(x[i]);
      break;
    case U_LOG:
      for (int64_t i = 0; i < n; ++i) out[i] = vm::log(x[i]);
      break;
    case U_SQRT:
      for (int64_t i = 0; i < n; ++i) out[i] = __builtin_sqrtf(x[i]);
      break;
    case U_RELU:
      for (int64_t i = 0; i < n; ++i) out[i] = x[i] < 0.0f ? 0.0f : x[i];  // NaN and -0 pass through
      break;
    case U_SIGMOID:
      for (int64_t i = 0; i < n; ++i) out[i] = vm::sigmoid(x[i]);
      break;
    case U_TANH:
      for (int64_t i = 0; i < n; ++i) out[i] = vm::tanh(x[i]);
      break;
    case U_ABS:
      for (int64_t i = 0; i < n; ++i) out[i] = __builtin_fabsf(x[i]);
      break;
    case U_POW:
      if (p == 2.0f) {
        for (int64_t i = 0; i < n; ++i) out[i] = x[i] * x[i];
      } else if (p == 1.0f) {
        for (int64_t i = 0; i < n; ++i) out[i] = x[i];
      } else if (p == 0.0f) {
        for (int64_t i = 0; i < n; ++i) out[i] = 1.0f;
      } else if (p == 3.0f) {
        for (int64_t i = 0; i < n; ++i) out[i] = x[i] * x[i] * x[i];
      } else if (p == -1.0f) {
        for (int64_t i = 0; i < n; ++i) out[i] = 1.0f / x[i];
      } else {
        for (int64_t i = 0; i < n; ++i) out[i] = std::pow(x[i], p);
      }
      break;
    case U_AFFINE:
      {
        // in double, like the TypeScript backend (p*x is exact): no cancellation error without FMA
        const double pd = p, qd = q;
        for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(pd * x[i] + qd);
      }
      break;
    case U_CLAMP:  // NaN passes through (both compares are false)
      for (int64_t i = 0; i < n; ++i) out[i] = x[i] < p ? p : (x[i] > q ? q : x[i]);
      break;
    default:
      break;
  }
}
AVGK_MULTIVERSION(void, unary_chunk, (int op, const float* x, float* out, int64_t n, float p, float q), (op, x, out, n, p, q))


AVGK_INLINE void unary_backward_chunk_body(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n,
                                      float p, float q) {
  (void)q;
  switch (op) {
    case U_NEG:
      for (int64_t i = 0; i < n; ++i) gx[i] = -gy[i];
      break;
    case U_EXP:
      for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * y[i];
      break;
    case U_LOG:
      for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] / x[i];
      break;
    case U_SQRT:
      for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] / (2.0f * y[i]);
      break;
    case U_RELU:
      for (int64_t i = 0; i < n; ++i) gx[i] = x[i] > 0.0f ? gy[i] : 0.0f;
      break;
    case U_SIGMOID:
      for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * (y[i] * (1.0f - y[i]));
      break;
    case U_TANH:
      for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * ((1.0f - y[i]) * (1.0f + y[i]));  // no cancellation near |y| = 1
      break;
    case U_ABS:
      for (int64_t i = 0; i < n; ++i) {
        float s = x[i] > 0.0f ? 1.0f : (x[i] < 0.0f ? -1.0f : (x[i] != x[i] ? x[i] : 0.0f));
        gx[i] = gy[i] * s;
      }
      break;
    case U_POW:
      if (p == 2.0f) {
        for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * (2.0f * x[i]);
      } else if (p == 1.0f) {
        for (int64_t i = 0; i < n; ++i) gx[i] = gy[i];
      } else if (p == 0.0f) {
        for (int64_t i = 0; i < n; ++i) gx[i] = 0.0f;  // exactly 0 (PyTorch)
      } else if (p == 3.0f) {
        for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * (3.0f * (x[i] * x[i]));
      } else {
        const float pm1 = p - 1.0f;
        for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * (p * std::pow(x[i], pm1));
      }
      break;
    case U_AFFINE:
      for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * p;
      break;
    case U_CLAMP:
      for (int64_t i = 0; i < n; ++i) gx[i] = (x[i] >= p && x[i] <= q) ? gy[i] : 0.0f;
      break;
    default:
      break;
  }
}
AVGK_MULTIVERSION(void, unary_backward_chunk, (int op, const float* x, const float* y, const float* gy, float* gx, int64_t n, float p, float q), (op, x, y, gy, gx, n, p, q))


template <int OP>
AVGK_INLINE float bop(float a, float b) {
  if constexpr (OP == B_ADD) return a + b;
  if constexpr (OP == B_SUB) return a - b;
  if constexpr (OP == B_MUL) return a * b;
  if constexpr (OP == B_DIV) return a / b;
  // max/min propagate NaN (like Math.max / Math.min)
  if constexpr (OP == B_MAX) return (a != a || b != b) ? a + b : (a > b ? a : b);
  if constexpr (OP == B_MIN) return (a != a || b != b) ? a + b : (a < b ? a : b);
  if constexpr (OP == B_GE) return a >= b ? 1.0f : 0.0f;
  return 0.0f;
}

template <int OP>
AVGK_INLINE void binary_row_t(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = bop<OP>(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = bop<OP>(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = bop<OP>(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = bop<OP>(a[i * sa], b[i * sb]);
  }
}

// out may be exactly a or b (in place), so no __restrict.
AVGK_INLINE void binary_row_body(int op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  switch (op) {
    case B_ADD: binary_row_t<B_ADD>(a, sa, b, sb, out, n); break;
    case B_SUB: binary_row_t<B_SUB>(a, sa, b, sb, out, n); break;
    case B_MUL: binary_row_t<B_MUL>(a, sa, b, sb, out, n); break;
    case B_DIV: binary_row_t<B_DIV>(a, sa, b, sb, out, n); break;
    case B_MAX: binary_row_t<B_MAX>(a, sa, b, sb, out, n); break;
    case B_MIN: binary_row_t<B_MIN>(a, sa, b, sb, out, n); break;
    case B_GE: binary_row_t<B_GE>(a, sa, b, sb, out, n); break;
    default: break;
  }
}
AVGK_MULTIVERSION(void, binary_row, (int op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n), (op, a, sa, b, sb, out, n))


template <typename T>
void copy_row(const T* x, int64_t sx, T* out, int64_t so, int64_t n) {
  if (sx == 1 && so == 1) {
    std::memcpy(out, x, static_cast<size_t>(n) * sizeof(T));
  } else if (sx == 0 && so == 1) {
    const T v = x[0];
    for (int64_t i = 0; i < n; ++i) out[i] = v;
  } else if (so == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = x[i * sx];
  } else {
    for (int64_t i = 0; i < n; ++i) out[i * so] = x[i * sx];
  }
}

// Strided iteration over up to 8 dims with up to 3 operands.
struct Layout {
  int nd = 0;
  int64_t shape[8];
  int64_t st[3][8];
};

// Drops size-1 dims and merges dims that are contiguous with each other in every operand.
Layout coalesce(const int64_t* shape, int ndim, const int64_t* const* strides, int nops) {
  Layout L;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    int k = L.nd;
    if (k > 0) {
      bool merge = true;
      for (int o = 0; o < nops; ++o) merge = merge && (L.st[o][k - 1] == strides[o][d] * shape[d]);
      if (merge) {
        L.shape[k - 1] *= shape[d];
        for (int o = 0; o < nops; ++o) L.st[o][k - 1] = strides[o][d];
        continue;
      }
    }
    L.shape[k] = shape[d];
    for (int o = 0; o < nops; ++o) L.st[o][k] = strides[o][d];
    L.nd = k + 1;
  }
  if (L.nd == 0) {
    L.nd = 1;
    L.shape[0] = 1;
    for (int o = 0; o < nops; ++o) L.st[o][0] = 1;
  }
  return L;
}

// Calls row(offsets[], len, innerStrides[]) for every row segment covering linear indices
// [begin, end) of the layout, split so that each call stays in one innermost row.
template <int NOPS, class Row>
void for_rows(const Layout& L, int64_t begin, int64_t end, Row&& row) {
  const int nd = L.nd;
  const int64_t inner = L.shape[nd - 1];
  int64_t idx[8] = {0};
  int64_t off[NOPS];
  int64_t r = begin / inner, col = begin % inner;
  for (int o = 0; o < NOPS; ++o) off[o] = 0;
  for (int d = nd - 2; d >= 0; --d) {
    idx[d] = r % L.shape[d];
    r /= L.shape[d];
    for (int o = 0; o < NOPS; ++o) off[o] += idx[d] * L.st[o][d];
  }
  int64_t pos = begin;
  while (pos < end) {
    int64_t len = std::min(inner - col, end - pos);
    int64_t o2[NOPS];
    for (int o = 0; o < NOPS; ++o) o2[o] = off[o] + col * L.st[o][nd - 1];
    row(o2, len);
    pos += len;
    col = 0;
    for (int d = nd - 2; d >= 0; --d) {
      if (++idx[d] < L.shape[d]) {
        for (int o = 0; o < NOPS; ++o) off[o] += L.st[o][d];
        break;
      }
      for (int o = 0; o < NOPS; ++o) off[o] -= (L.shape[d] - 1) * L.st[o][d];
      idx[d] = 0;
    }
  }
}

}  // namespace

void unary(int op, const float* x, float* out, int64_t n, float p, float q) {
  if (op < U_NEG || op > U_LAST) throw std::invalid_argument("unknown unary op code " + std::to_string(op));
  int64_t work = (op == U_POW && !(p == 2.0f || p == 1.0f || p == 0.0f || p == 3.0f)) ? 8 : 1;
  if (op == U_EXP || op == U_LOG || op == U_SIGMOID || op == U_TANH) work = 2;
  parallel_for(n, [&](int64_t b, int64_t e) { unary_chunk(op, x + b, out + b, e - b, p, q); }, work);
}

void unary_backward(int op, const float* x, const float* y, const float* gy, float* gx, int64_t n, float p, float q) {
  if (op < U_NEG || op > U_LAST) throw std::invalid_argument("unknown unary op code " + std::to_string(op));
  parallel_for(n, [&](int64_t b, int64_t e) {
    unary_backward_chunk(op, x ? x + b : nullptr, y ? y + b : nullptr, gy + b, gx + b, e - b, p, q);
  });
}

void binary(int op, const float* a, const int64_t* aStrides, const float* b, const int64_t* bStrides, float* out,
            const int64_t* shape, int ndim) {
  if (op < B_ADD || op > B_LAST) throw std::invalid_argument("unknown binary op code " + std::to_string(op));
  if (ndim < 0 || ndim > 8) throw std::invalid_argument("binary supports at most 8 dimensions");
  int64_t total = 1;
  int64_t oStrides[8];
  for (int d = ndim - 1; d >= 0; --d) {
    oStrides[d] = total;
    total *= shape[d];
  }
  if (total == 0) return;
  const int64_t* strides[3] = {aStrides, bStrides, oStrides};
  Layout L = coalesce(shape, ndim, strides, 3);
  parallel_for(total, [&](int64_t beg, int64_t end) {
    for_rows<3>(L, beg, end, [&](const int64_t* off, int64_t len) {
      binary_row(op, a + off[0], L.st[0][L.nd - 1], b + off[1], L.st[1][L.nd - 1], out + off[2], len);
    });
  });
}

template <typename T>
void copy_strided(const T* x, const int64_t* xStrides, T* out, const int64_t* outStrides, const int64_t* shape,
                  int ndim) {
  if (ndim < 0 || ndim > 8) throw std::invalid_argument("copy supports at most 8 dimensions");
  int64_t total = 1;
  for (int d = 0; d < ndim; ++d) total *= shape[d];
  if (total == 0) return;
  const int64_t* strides[2] = {xStrides, outStrides};
  Layout L = coalesce(shape, ndim, strides, 2);
  parallel_for(total, [&](int64_t beg, int64_t end) {
    for_rows<2>(L, beg, end, [&](const int64_t* off, int64_t len) {
      copy_row<T>(x + off[0], L.st[0][L.nd - 1], out + off[1], L.st[1][L.nd - 1], len);
    });
  });
}

template void copy_strided<float>(const float*, const int64_t*, float*, const int64_t*, const int64_t*, int);
template void copy_strided<int32_t>(const int32_t*, const int64_t*, int32_t*, const int64_t*, const int64_t*, int);

}  // namespace avgk
