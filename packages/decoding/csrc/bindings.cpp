#include <pybind11/pybind11.h>
PYBIND11_MODULE(_core, m) { m.def("built_backends", [] { return pybind11::make_tuple("cpu"); }); }
