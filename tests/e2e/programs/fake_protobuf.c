// A shared library standing in for a host's own, incompatible protobuf: it exports, under
// the same (mangled C++) names, every google::protobuf symbol the agent used to import
// (`nm -D --undefined-only libprofagent.so` of the agent that linked libprotobuf-lite), and
// each one aborts. A host linked against it puts these definitions first in the global
// symbol scope, so an agent whose protobuf calls bind to the host's copy dies at its first
// dump. fake_protobuf_linked() is the one harmless symbol: the host calls it so the linker
// keeps the library.
#include <stdlib.h>
#include <unistd.h>

// The project builds with -fvisibility=hidden; these are this library's exports.
#define EXPORT __attribute__((visibility("default")))

EXPORT int fake_protobuf_linked(void) { return 1; }

static void host_protobuf_called(void) {
  static const char msg[] = "fake_protobuf: the host's protobuf was called; aborting\n";
  write(2, msg, sizeof msg - 1);
  abort();
}

#define ABORTING(id, symbol) \
  void fake_protobuf_##id(void) __asm__(symbol); \
  EXPORT void fake_protobuf_##id(void) { host_protobuf_called(); }

ABORTING(1, "_ZN6google8protobuf11MessageLite14ParseFromArrayEPKvi")
ABORTING(2, "_ZN6google8protobuf11MessageLite15ParseFromStringERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE")
ABORTING(3, "_ZN6google8protobuf13RepeatedFieldIlE7ReserveEi")
ABORTING(4, "_ZN6google8protobuf13RepeatedFieldIlED1Ev")
ABORTING(5, "_ZN6google8protobuf13RepeatedFieldImE7ReserveEi")
ABORTING(6, "_ZN6google8protobuf13RepeatedFieldImED1Ev")
ABORTING(7, "_ZN6google8protobuf16RepeatedPtrFieldINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEE3AddEv")
ABORTING(8, "_ZN6google8protobuf16RepeatedPtrFieldINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEE5ClearEv")
ABORTING(9, "_ZN6google8protobuf16RepeatedPtrFieldINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEE9MergeFromERKS8_")
ABORTING(10, "_ZN6google8protobuf16RepeatedPtrFieldINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEEC1EPNS0_5ArenaE")
ABORTING(11, "_ZN6google8protobuf16RepeatedPtrFieldINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEEC1ERKS8_")
ABORTING(12, "_ZN6google8protobuf16RepeatedPtrFieldINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEED1Ev")
ABORTING(13, "_ZN6google8protobuf20stringpiece_internal11StringPiece18LogFatalSizeTooBigEmPKc")
ABORTING(14, "_ZN6google8protobuf2io19EpsCopyOutputStream16WriteRawFallbackEPKviPh")
ABORTING(15, "_ZN6google8protobuf2io19EpsCopyOutputStream18WriteStringOutlineEjRKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEPh")
ABORTING(16, "_ZN6google8protobuf2io19EpsCopyOutputStream19EnsureSpaceFallbackEPh")
ABORTING(17, "_ZN6google8protobuf5Arena23AllocateAlignedWithHookEmPKSt9type_info")
ABORTING(18, "_ZN6google8protobuf5Arena26AllocateAlignedWithCleanupEmPKSt9type_info")
ABORTING(19, "_ZN6google8protobuf8internal10LogMessageC1ENS0_8LogLevelEPKci")
ABORTING(20, "_ZN6google8protobuf8internal10LogMessageD1Ev")
ABORTING(21, "_ZN6google8protobuf8internal10LogMessagelsEPKc")
ABORTING(22, "_ZN6google8protobuf8internal10LogMessagelsEi")
ABORTING(23, "_ZN6google8protobuf8internal10VerifyUTF8ENS0_20stringpiece_internal11StringPieceEPKc")
ABORTING(24, "_ZN6google8protobuf8internal11LogFinisheraSERNS1_10LogMessageE")
ABORTING(25, "_ZN6google8protobuf8internal12ParseContext12ParseMessageEPNS0_11MessageLiteEPKc")
ABORTING(26, "_ZN6google8protobuf8internal14WireFormatLite10UInt64SizeERKNS0_13RepeatedFieldImEE")
ABORTING(27, "_ZN6google8protobuf8internal14WireFormatLite16VerifyUtf8StringEPKciNS2_9OperationES4_")
ABORTING(28, "_ZN6google8protobuf8internal14WireFormatLite20InternalWriteMessageEiRKNS0_11MessageLiteEiPhPNS0_2io19EpsCopyOutputStreamE")
ABORTING(29, "_ZN6google8protobuf8internal14WireFormatLite9Int64SizeERKNS0_13RepeatedFieldIlEE")
ABORTING(30, "_ZN6google8protobuf8internal15ReadTagFallbackEPKcj")
ABORTING(31, "_ZN6google8protobuf8internal16InternalMetadata11DoMergeFromINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEEEvRKT_")
ABORTING(32, "_ZN6google8protobuf8internal16InternalMetadata15CheckedDestructEv")
ABORTING(33, "_ZN6google8protobuf8internal16InternalMetadata7DoClearINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEEEvv")
ABORTING(34, "_ZN6google8protobuf8internal17PackedInt64ParserEPvPKcPNS1_12ParseContextE")
ABORTING(35, "_ZN6google8protobuf8internal17UnknownFieldParseEjPNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEPKcPNS1_12ParseContextE")
ABORTING(36, "_ZN6google8protobuf8internal17VarintParseSlow64EPKcj")
ABORTING(37, "_ZN6google8protobuf8internal18EpsCopyInputStream12DoneFallbackEii")
ABORTING(38, "_ZN6google8protobuf8internal18PackedUInt64ParserEPvPKcPNS1_12ParseContextE")
ABORTING(39, "_ZN6google8protobuf8internal20RepeatedPtrFieldBase13DestroyProtosEv")
ABORTING(40, "_ZN6google8protobuf8internal20RepeatedPtrFieldBase14InternalExtendEi")
ABORTING(41, "_ZN6google8protobuf8internal20RepeatedPtrFieldBase18AddOutOfLineHelperEPv")
ABORTING(42, "_ZN6google8protobuf8internal24InlineGreedyStringParserEPNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEPKcPNS1_12ParseContextE")
ABORTING(43, "_ZNK6google8protobuf11MessageLite17SerializeAsStringB5cxx11Ev")
ABORTING(44, "_ZNK6google8protobuf11MessageLite17SerializeToStringEPNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE")
ABORTING(45, "_ZNK6google8protobuf11MessageLite25InitializationErrorStringB5cxx11Ev")
ABORTING(46, "_ZNK6google8protobuf16RepeatedPtrFieldINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEE3GetEi")
ABORTING(47, "_ZNK6google8protobuf16RepeatedPtrFieldINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEE4sizeEv")
ABORTING(48, "_ZNK6google8protobuf8internal15ThreadSafeArena14SpaceAllocatedEv")

// MessageLite's type info and vtable: every slot aborts.
typedef void (*Slot)(void);
EXPORT const Slot fake_protobuf_typeinfo[4] __asm__("_ZTIN6google8protobuf11MessageLiteE") = {
    host_protobuf_called, host_protobuf_called, host_protobuf_called, host_protobuf_called};
EXPORT const Slot fake_protobuf_vtable[32] __asm__("_ZTVN6google8protobuf11MessageLiteE") = {
    host_protobuf_called, host_protobuf_called, host_protobuf_called, host_protobuf_called,
    host_protobuf_called, host_protobuf_called, host_protobuf_called, host_protobuf_called,
    host_protobuf_called, host_protobuf_called, host_protobuf_called, host_protobuf_called,
    host_protobuf_called, host_protobuf_called, host_protobuf_called, host_protobuf_called,
    host_protobuf_called, host_protobuf_called, host_protobuf_called, host_protobuf_called,
    host_protobuf_called, host_protobuf_called, host_protobuf_called, host_protobuf_called,
    host_protobuf_called, host_protobuf_called, host_protobuf_called, host_protobuf_called,
    host_protobuf_called, host_protobuf_called, host_protobuf_called, host_protobuf_called};
