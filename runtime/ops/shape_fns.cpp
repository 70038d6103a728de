#include "runtime/ops/shape_fns.hpp"

#include <algorithm>

namespace troupe::shape_fns {

error scalar(shape_context& c) {
  for (int i = 0; i < c.num_outputs(); ++i) c.set_output(i, partial_shape(tensor_shape{}));
  return {};
}

expected<partial_shape> broadcast(const partial_shape& a, const partial_shape& b) {
  if (!a.rank_known() || !b.rank_known()) return partial_shape::unknown();
  int rank = std::max(a.rank(), b.rank());
  partial_shape out = partial_shape::unknown_dims(rank);
  for (int i = 0; i < rank; ++i) {
    int ia = i - (rank - a.rank());
    int ib = i - (rank - b.rank());
    int64_t da = ia >= 0 ? a.dim(ia) : 1;
    int64_t db = ib >= 0 ? b.dim(ib) : 1;
    int64_t d;
    if (da == 1) d = db;
    else if (db == 1) d = da;
    else if (da == -1 || db == -1) d = da == -1 ? db : da;
    else if (da == db) d = da;
    else
      return make_error(errc::invalid_argument, "shapes ", a.to_string(), " and ", b.to_string(),
                        " cannot be broadcast: dimension ", i, " is ", da, " vs ", db);
    out.set_dim(i, d);
  }
  return out;
}

error broadcast_inputs(shape_context& c) {
  partial_shape s = c.input(0);
  for (int i = 1; i < c.num_inputs(); ++i) s = TROUPE_TRY(broadcast(s, c.input(i)));
  c.set_output(0, s);
  return {};
}

expected<int> normalize_axis(int64_t axis, int rank) {
  TROUPE_REQUIRE(axis >= -rank && axis < rank, "axis ", axis, " is out of range for rank ", rank,
                 ": expected -", rank, " <= axis < ", rank);
  return int(axis < 0 ? axis + rank : axis);
}

error from_shape_attr(shape_context& c) {
  c.set_output(0, c.attr<partial_shape>("shape"));
  return {};
}

}  // namespace troupe::shape_fns
