/// @file
/// FORAGE_API marks what libforage.so exports.
///
/// The library is compiled with hidden visibility (-fvisibility=hidden), so a name the shared
/// library defines is visible to programs only if its declaration carries FORAGE_API: the
/// functions the headers declare and lib/ defines, the classes with out-of-line members, and the
/// classes a program must catch or compare across the boundary (every exception type, whose
/// typeinfo must be the library's one). A static libforage.a ignores the attribute.
///
/// It also goes on the `inline thread_local` variables of the headers: hidden, the library and
/// the program would each get their own copy and silently disagree about the current task.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define FORAGE_API [[gnu::visibility("default")]]
#else
#define FORAGE_API
#endif
