/// @file
/// FORAGE_API marks what libforage.so exports.
///
/// The library is compiled with hidden visibility (-fvisibility=hidden), so a name the shared
/// library defines is visible to programs only if its declaration carries FORAGE_API: the
/// functions the headers declare and lib/ defines, the classes with out-of-line members, and the
/// classes a program must catch or compare across the boundary (every exception type, whose
/// typeinfo must be the library's one). A static libforage.a ignores the attribute.
///
/// It also goes on the `inline thread_local` variables of the headers. Hidden, the library and
/// the program would each get their own copy and silently disagree: detail::tls_current_stop,
/// which lib/wait_word.cpp clears while a waiting task helps, would then leak the waiter's stop
/// request into the task it runs (tests/export_test.cpp). The other two are used by headers
/// only today, and carry it so that library code reading them later cannot split them.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define FORAGE_API [[gnu::visibility("default")]]
#else
#define FORAGE_API
#endif
