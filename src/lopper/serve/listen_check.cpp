#include "lopper/serve/listen_check.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lopper/util/error.h"

namespace lopper {

void check_can_listen(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) fail("cannot listen on host \"{}\" (--host): {}", host, gai_strerror(rc));
  // As the server does, the first address that works wins.
  int err = EADDRNOTAVAIL;
  for (addrinfo* a = res; a && err != 0; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    int yes = 1;  // as the server: a port in TIME_WAIT is free
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    err = bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1) == 0 ? 0 : errno;
    close(fd);
  }
  freeaddrinfo(res);
  if (err == 0) return;
  if (err == EADDRINUSE) fail("port {} is in use (--port)", port);
  if (err == EACCES) fail("port {}: permission denied (ports below 1024 need root; --port)", port);
  if (err == EADDRNOTAVAIL) fail("cannot listen on host \"{}\" (--host): not an address of this machine", host);
  fail("cannot listen on {}:{} (--host / --port): {}", host, port, std::strerror(err));
}

}  // namespace lopper
