// A non-owning reference to a callable, for callbacks invoked once per match or per piece.
// std::function would heap-allocate for the capturing lambdas passed down the pre-tokenizer chain.
// The referenced callable must outlive the FunctionRef (pass lambdas as named lvalues).
#pragma once
#include <type_traits>
#include <utility>

namespace lopper::tok {

template <typename Sig>
class FunctionRef;

template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F>
    requires(!std::is_same_v<std::remove_cv_t<F>, FunctionRef>)
  FunctionRef(F& f)  // NOLINT(google-explicit-constructor): used like a function reference
      : obj_(&f), call_([](void* o, Args... args) -> R {
          return (*static_cast<F*>(o))(std::forward<Args>(args)...);
        }) {}
  R operator()(Args... args) const { return call_(obj_, std::forward<Args>(args)...); }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

}  // namespace lopper::tok
