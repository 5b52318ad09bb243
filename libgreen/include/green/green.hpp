// Everything in libgreen's core, in one include.
#pragma once

#include <green/event.hpp>
#include <green/greenlet.hpp>
#include <green/hub.hpp>
#include <green/io.hpp>
#include <green/local.hpp>
#include <green/pool.hpp>
#include <green/queue.hpp>
#include <green/semaphore.hpp>
#include <green/timeout.hpp>
#include <green/version.hpp>
