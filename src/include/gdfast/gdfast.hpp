// Everything the binding includes.
#pragma once

#include "api.hpp"
