// gucs.hpp — denorm's configuration parameters (defined in module.cpp). Layer: pg glue.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace denorm::pg {

extern bool guc_enabled;              // denorm.enabled: the worker refreshes
extern int guc_naptime_ms;            // denorm.naptime: longest sleep of the worker
extern int guc_fold_interval_ms;      // denorm.fold_interval: how often deferred counters are folded
extern int guc_refresh_lock_timeout_ms;  // denorm.refresh_lock_timeout
extern int guc_log_retention_s;       // denorm.log_retention: refresh_log rows kept
extern char *guc_databases;           // denorm.databases: comma list, empty = all
extern char *guc_redis_url;           // denorm.redis_url: redis://host[:port][/db]; empty = publishing off
extern char *guc_redis_password;      // denorm.redis_password: superusers only
extern int guc_redis_timeout_ms;      // denorm.redis_timeout: connect and command timeout

// denorm.apply: when a writer's counter changes reach the target rows.
enum class ApplyMode { Commit, Statement };
extern int guc_apply;                 // an ApplyMode

void define_gucs();

}  // namespace denorm::pg
