// cpp-httplib reports a failed bind as `false`, without the reason. To tell the user which option to
// change, and to do so before spending minutes loading models, lopper tries host:port on a plain
// socket first and turns errno into one line.
#pragma once
#include <string>

namespace lopper {

// Returns if a TCP server could listen on host:port now; otherwise throws InputError: "port 8080 is
// in use (--port)", "port 80: permission denied ... (--port)", "cannot listen on host H (--host): ...".
void check_can_listen(const std::string& host, int port);

}  // namespace lopper
