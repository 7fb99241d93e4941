/* hjdef.h: Consul's JSON service and check definitions (config files) decoded into bus records. */
#ifndef MUSTER_HEALTHD_HJDEF_H
#define MUSTER_HEALTHD_HJDEF_H

#include <stddef.h>

#include "msg.h"

/*
 * A config file's service or check definition (conf keeps each as JSON,
 * common/conf.h) into the records an HTTP registration gives: field names
 * match case-insensitively with '_' ignored, as Consul's lenient decoding
 * of service definitions (ServiceDefinition, CheckType's UnmarshalJSON:
 * "args", "script_args", "deregister_critical_service_after", ...);
 * durations are Go duration strings or numbers of nanoseconds; unknown
 * fields are ignored; Proxy and Connect are kept as their JSON text.
 * Validation and defaults are hdef's. 0, or -1 with a reason in err.
 */
int hjdef_service(const char *json, struct msg_agent_service *svc,
                  struct msg_agent_check_list *checks, char *err, size_t err_size);
int hjdef_check(const char *json, struct msg_agent_check *c, char *err, size_t err_size);

#endif
