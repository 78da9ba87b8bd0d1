// Everything the binding includes.
#pragma once

#include "common.hpp"
#include "loss_grad.hpp"
#include "losses.hpp"
#include "rowops.hpp"
#include "stream.hpp"
