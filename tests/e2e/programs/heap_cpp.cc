// Heap e2e program: C++ allocation through new/delete, aligned new and STL containers in
// named functions of namespace heapdemo. Keeps what make_nodes, make_aligned and build_map
// allocate until exit; churn_new_delete frees everything it allocates. Prints "ok".
#include <cstdio>
#include <map>
#include <new>
#include <string>
#include <vector>

namespace heapdemo {

struct Node {
  long payload[8];  // 64 bytes
  Node* next;
};
static_assert(sizeof(Node) == 72);

struct alignas(128) Aligned {
  char bytes[256];
};

Node* g_nodes = nullptr;
Aligned* g_aligned = nullptr;
std::map<int, std::string>* g_map = nullptr;
std::vector<double>* g_vector = nullptr;
void* volatile g_sink;

__attribute__((noinline)) void make_nodes(int n) {
  for (int i = 0; i < n; ++i) {
    Node* node = new Node{};
    node->next = g_nodes;
    g_nodes = node;
  }
}

__attribute__((noinline)) void make_aligned(int n) {
  g_aligned = new Aligned[n];
  for (int i = 0; i < n; ++i) g_aligned[i].bytes[0] = static_cast<char>(i);
}

__attribute__((noinline)) void build_map(int n) {
  g_map = new std::map<int, std::string>;
  for (int i = 0; i < n; ++i) (*g_map)[i] = std::string(100, static_cast<char>('a' + i % 26));
}

__attribute__((noinline)) void fill_vector(int n) {
  g_vector = new std::vector<double>;
  for (int i = 0; i < n; ++i) g_vector->push_back(i);
}

__attribute__((noinline)) void churn_new_delete(int n) {
  for (int i = 0; i < n; ++i) {
    auto* v = new std::vector<int>(50, i);
    g_sink = v;
    delete v;
  }
}

}  // namespace heapdemo

int main() {
  heapdemo::make_nodes(20000);
  heapdemo::make_aligned(1000);
  heapdemo::build_map(5000);
  heapdemo::fill_vector(100000);
  heapdemo::churn_new_delete(20000);
  bool ok = reinterpret_cast<unsigned long>(heapdemo::g_aligned) % 128 == 0 &&
            heapdemo::g_map->size() == 5000 && heapdemo::g_vector->size() == 100000;
  std::printf(ok ? "ok\n" : "bad\n");
  return 0;
}
