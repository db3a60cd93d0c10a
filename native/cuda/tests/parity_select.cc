// Parity: selectKth (radix select on the device), markTop, countAboveEqual.
#include <algorithm>
#include <cstring>

#include "parity.h"

using parity::Dev;

namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
uint32_t key(float f) {
  const uint32_t u = bits(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
float unkey(uint32_t k) {
  const uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
bool sel(const std::vector<uint8_t>& mask, size_t i) { return mask.empty() || mask[i] != 0; }

// The m-th largest selected entry by sorting the keys (-0 below +0); NaN when a selected entry is
// NaN or m is outside [1, #selected].
float kth_ref(const std::vector<float>& x, const std::vector<uint8_t>& mask, int64_t m) {
  std::vector<uint32_t> k;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!sel(mask, i)) continue;
    if (std::isnan(x[i])) return NAN;
    k.push_back(key(x[i]));
  }
  if (m < 1 || m > static_cast<int64_t>(k.size())) return NAN;
  std::nth_element(k.begin(), k.begin() + (m - 1), k.end(), std::greater<uint32_t>());
  return unkey(k[m - 1]);
}

// markTop of src/avgk/pseudo-labels.ts: λ = the m-th largest (m clamped to the selected count),
// every selected entry > λ, then the selected entries == λ in index order until m are marked.
void mark_ref(const std::vector<float>& x, const std::vector<uint8_t>& mask, int64_t m, std::vector<float>& t) {
  if (m <= 0) return;
  int64_t count = 0;
  for (size_t i = 0; i < x.size(); ++i) count += sel(mask, i);
  if (m > count) m = count;
  if (m == 0) return;
  const float lambda = kth_ref(x, mask, m);
  int64_t taken = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (sel(mask, i) && x[i] > lambda) {
      t[i] = 1.0f;
      ++taken;
    }
  for (size_t i = 0; i < x.size() && taken < m; ++i)
    if (sel(mask, i) && x[i] == lambda) {
      t[i] = 1.0f;
      ++taken;
    }
}

bool same(float got, float want, const std::string& what) {
  ++parity::g_checks;
  const bool ok = (std::isnan(got) && std::isnan(want)) || bits(got) == bits(want);
  if (!ok) parity::fail(what + ": got " + std::to_string(got) + " (" + std::to_string(bits(got)) + "), want " +
                        std::to_string(want) + " (" + std::to_string(bits(want)) + ")");
  return ok;
}

// The data sets: name, values.
struct Data {
  std::string name;
  std::vector<float> x;
};

std::vector<Data> data_sets(int64_t n, uint32_t seed) {
  std::vector<Data> d;
  d.push_back({"uniform(-1,1)", parity::uniform(n, -1.0f, 1.0f, seed)});
  // probabilities: [0, 1), most of them tiny (softmax-like): the top digit is heavily skewed
  {
    auto u = parity::uniform(n, -12.0f, 0.0f, seed + 1);
    for (auto& v : u) v = std::exp(v);
    d.push_back({"probabilities", u});
  }
  d.push_back({"all equal", std::vector<float>(n, 0.25f)});
  {
    auto u = parity::uniform(n, 0.0f, 3.0f, seed + 2);
    for (auto& v : u) v = std::floor(v) - 1.0f;  // -1, 0, 1
    d.push_back({"three values", u});
  }
  {
    // negatives, ±0, ±inf and neighbours one ulp apart (digits differ only at the bottom)
    auto u = parity::uniform(n, -1000.0f, 1000.0f, seed + 3);
    const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, -0.0f, 0.0f, 1.0f, std::nextafter(1.0f, 2.0f),
                        -1.0f, std::nextafter(-1.0f, -2.0f), 1e-45f, -1e-45f, 3.4e38f, -3.4e38f};
    for (size_t k = 0; k < sizeof sp / sizeof *sp && k < u.size(); ++k) u[(k * 7919) % u.size()] = sp[k];
    d.push_back({"specials", u});
  }
  {
    std::vector<float> u(n);
    for (int64_t i = 0; i < n; ++i) u[i] = (i % 2) ? -0.0f : 0.0f;
    d.push_back({"+0 and -0", u});
  }
  return d;
}

std::vector<std::vector<uint8_t>> masks(int64_t n, uint32_t seed) {
  std::vector<std::vector<uint8_t>> ms;
  ms.push_back({});  // null: every entry
  std::mt19937 rng(seed);
  std::vector<uint8_t> half(n), sparse(n, 0);
  for (auto& b : half) b = static_cast<uint8_t>(rng() % 2 ? 1 + rng() % 255 : 0);  // any non-zero byte selects
  for (int64_t i = 0; i < n; i += 97) sparse[i] = 1;
  ms.push_back(half);
  ms.push_back(sparse);
  return ms;
}

std::vector<int64_t> ranks(int64_t count) {
  std::vector<int64_t> r = {1, 2, count / 2, count - 1, count, count + 1};
  std::sort(r.begin(), r.end());
  r.erase(std::unique(r.begin(), r.end()), r.end());
  r.erase(std::remove_if(r.begin(), r.end(), [](int64_t v) { return v < 1; }), r.end());
  return r;
}

void check_select(const std::vector<float>& x, const std::vector<uint8_t>& mask, const std::string& what,
                  bool crossCheck) {
  const int64_t n = static_cast<int64_t>(x.size());
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += sel(mask, i);
  Dev<float> dx(x), dout(1);
  Dev<uint8_t> dm(mask.empty() ? std::vector<uint8_t>(1) : mask);
  for (int64_t m : ranks(count)) {
    const float want = kth_ref(x, mask, m);
    avgk_cuda::select_kth(dx.p, n, m, mask.empty() ? nullptr : dm.p, dout.p);
    const std::string w = what + " m=" + std::to_string(m) + " of " + std::to_string(count);
    same(dout.get()[0], want, w);
    // the CPU kernel (where it has an answer: it throws otherwise)
    if (crossCheck && !std::isnan(want)) same(avgk::select_kth(x.data(), n, m, mask.empty() ? nullptr : mask.data()), want, w + " (CPU)");
  }
}

}  // namespace

AVGK_PARITY(select_kth) {
  for (int64_t n : {1, 2, 7, 1000, 200003}) {
    for (const auto& d : data_sets(n, static_cast<uint32_t>(n))) {
      const auto ms = masks(n, static_cast<uint32_t>(n + 1));
      for (size_t k = 0; k < ms.size(); ++k) {
        if (n >= 200003 && k == 2) continue;  // (the sparse mask is covered at n = 1000)
        check_select(d.x, ms[k], "selectKth n=" + std::to_string(n) + " " + d.name + " mask#" + std::to_string(k),
                     n < 200003);
      }
    }
  }
  // NaN: a selected NaN gives NaN; a masked-out NaN is ignored
  for (int64_t n : {7, 1000, 200003}) {
    auto x = parity::uniform(n, -1.0f, 1.0f, 77);
    x[n / 3] = NAN;
    std::vector<uint8_t> mask(n, 1);
    mask[n / 3] = 0;
    check_select(x, {}, "selectKth n=" + std::to_string(n) + " with a NaN", false);
    check_select(x, mask, "selectKth n=" + std::to_string(n) + " with a masked-out NaN", true);
  }
  // nothing selected; m < 1; m > n
  {
    auto x = parity::uniform(20000, -1.0f, 1.0f, 5);
    std::vector<uint8_t> none(x.size(), 0);
    Dev<float> dx(x), dout(1);
    Dev<uint8_t> dm(none);
    for (int64_t n : {int64_t(7), int64_t(20000)}) {
      avgk_cuda::select_kth(dx.p, n, 1, dm.p, dout.p);
      same(dout.get()[0], NAN, "selectKth with nothing selected, n=" + std::to_string(n));
      avgk_cuda::select_kth(dx.p, n, 0, nullptr, dout.p);
      same(dout.get()[0], NAN, "selectKth m=0, n=" + std::to_string(n));
      avgk_cuda::select_kth(dx.p, n, n + 1, nullptr, dout.p);
      same(dout.get()[0], NAN, "selectKth m=n+1, n=" + std::to_string(n));
    }
  }
  // unaligned x and mask (no 4-wide loads), around the one-block limit
  for (int64_t n : {16384, 16385, 50001}) {
    auto x = parity::uniform(n + 1, -1.0f, 1.0f, static_cast<uint32_t>(n));
    std::vector<uint8_t> mask(n + 1);
    for (int64_t i = 0; i <= n; ++i) mask[i] = static_cast<uint8_t>(i % 3 != 0);
    Dev<float> dx(x), dout(1);
    Dev<uint8_t> dm(mask);
    const std::vector<float> xs(x.begin() + 1, x.end());
    const std::vector<uint8_t> ms(mask.begin() + 1, mask.end());
    int64_t count = 0;
    for (auto b : ms) count += b != 0;
    for (int64_t m : {int64_t(1), count / 3, count}) {
      avgk_cuda::select_kth(dx.p + 1, n, m, dm.p + 1, dout.p);
      same(dout.get()[0], kth_ref(xs, ms, m), "selectKth unaligned n=" + std::to_string(n) + " m=" + std::to_string(m));
      avgk_cuda::select_kth(dx.p + 1, n, m, nullptr, dout.p);
      same(dout.get()[0], kth_ref(xs, {}, m), "selectKth unaligned, no mask, n=" + std::to_string(n));
    }
  }
}

AVGK_PARITY(select_mark_top) {
  // probabilities of a [B, C] batch, quantised so that there are ties at the threshold
  for (int64_t n : {1, 7, 1000, 25600, 200003}) {
    auto p = parity::uniform(n, 0.0f, 1.0f, static_cast<uint32_t>(n + 3));
    for (auto& v : p) v = std::floor(v * v * 64.0f) / 64.0f;
    std::vector<Data> sets = {{"quantised", p}, {"uniform", parity::uniform(n, -1.0f, 1.0f, 8)}};
    {
      std::vector<float> z(n);
      for (int64_t i = 0; i < n; ++i) z[i] = (i % 3 == 0) ? -0.0f : (i % 3 == 1 ? 0.0f : -1.0f);
      sets.push_back({"±0 ties", z});
    }
    for (const auto& d : sets) {
      const auto ms = masks(n, static_cast<uint32_t>(n));
      for (size_t k = 0; k < ms.size(); ++k) {
        const auto& mask = ms[k];
        int64_t count = 0;
        for (int64_t i = 0; i < n; ++i) count += sel(mask, i);
        std::vector<int64_t> mv = {-3, 0, 1, count / 10, count / 2, count, count + 5};
        if (n >= 200003) mv = {count / 4, count + 1};
        Dev<float> dx(d.x);
        Dev<uint8_t> dm(mask.empty() ? std::vector<uint8_t>(1) : mask);
        for (int64_t m : mv) {
          // targets start as a pattern (0, 0.5, 1) that unmarked entries keep
          std::vector<float> t(n);
          for (int64_t i = 0; i < n; ++i) t[i] = static_cast<float>(i % 3) * 0.5f;
          std::vector<float> want = t;
          mark_ref(d.x, mask, m, want);
          Dev<float> dt(t);
          avgk_cuda::mark_top(dx.p, n, m, mask.empty() ? nullptr : dm.p, dt.p);
          parity::equal(dt.get(), want, "markTop n=" + std::to_string(n) + " " + d.name + " mask#" +
                                            std::to_string(k) + " m=" + std::to_string(m));
        }
      }
    }
  }
  // exactly min(m, #selected) marks, from zero targets; a selected NaN marks nothing
  {
    const int64_t n = 30000;
    auto x = parity::uniform(n, 0.0f, 1.0f, 4);
    for (auto& v : x) v = std::floor(v * 4.0f);  // four values: ties everywhere
    Dev<float> dx(x);
    for (int64_t m : {int64_t(1), int64_t(7000), int64_t(7501), int64_t(29999)}) {
      Dev<float> dt(std::vector<float>(n, 0.0f));
      avgk_cuda::mark_top(dx.p, n, m, nullptr, dt.p);
      const auto t = dt.get();
      int64_t marked = 0;
      for (float v : t) marked += v == 1.0f;
      parity::equal(std::vector<int64_t>{marked}, std::vector<int64_t>{m}, "markTop count, m=" + std::to_string(m));
    }
    x[123] = NAN;
    Dev<float> dn(x), dt(std::vector<float>(n, 0.0f));
    avgk_cuda::mark_top(dn.p, n, 10, nullptr, dt.p);
    parity::equal(dt.get(), std::vector<float>(n, 0.0f), "markTop with a selected NaN marks nothing");
  }
}

AVGK_PARITY(select_count_above_equal) {
  for (int64_t n : {1, 7, 1000, 200003}) {
    auto x = parity::uniform(n, 0.0f, 1.0f, static_cast<uint32_t>(n));
    for (auto& v : x) v = std::floor(v * 16.0f) / 16.0f;
    if (n > 10) {
      x[3] = -0.0f;
      x[5] = NAN;
    }
    Dev<float> dx(x), dt(1);
    for (float t : {0.5f, 0.0f, 1.0f, -1.0f, 0.9375f, static_cast<float>(NAN)}) {
      int64_t above = 0, equal = 0;
      for (float v : x) {
        above += v > t;
        equal += v == t;
      }
      avgk_cuda::upload(dt.p, &t, 4);
      int64_t a = -1, e = -1;
      avgk_cuda::count_above_equal(dx.p, n, dt.p, &a, &e);
      parity::equal(std::vector<int64_t>{a, e}, std::vector<int64_t>{above, equal},
                    "countAboveEqual n=" + std::to_string(n) + " t=" + std::to_string(t));
    }
    // t from selectKth on the device (calibrate's use), over the data without its NaN
    if (n > 10) x[5] = 0.25f;
    Dev<float> dy(x);
    const int64_t m = (n + 1) / 2;
    avgk_cuda::select_kth(dy.p, n, m, nullptr, dt.p);
    int64_t a = -1, e = -1;
    avgk_cuda::count_above_equal(dy.p, n, dt.p, &a, &e);
    const float t = dt.get()[0];
    int64_t above = 0, equal = 0;
    for (float v : x) {
      above += v > t;
      equal += v == t;
    }
    parity::equal(std::vector<int64_t>{a, e}, std::vector<int64_t>{above, equal},
                  "countAboveEqual at selectKth's value, n=" + std::to_string(n));
    ++parity::g_checks;
    if (!(above < m && m <= above + equal)) parity::fail("countAboveEqual: the m-th largest is not in the tie range");
  }
}
