// Everything the binding includes.
#pragma once

#include "common.hpp"
#include "gd.hpp"
#include "loss_grad.hpp"
#include "losses.hpp"
#include "optimizers.hpp"
#include "rowops.hpp"
#include "sgd.hpp"
#include "stats.hpp"
#include "stream.hpp"
