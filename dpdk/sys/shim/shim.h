/* FerroStack dpdk-sys shim: exported wrappers for DPDK's static-inline functions and macros,
 * so that Rust can call them. One non-inlined call each; the hot path uses the burst and bulk
 * variants, so the cost is one call per burst. */
#ifndef FS_DPDK_SHIM_H
#define FS_DPDK_SHIM_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_mbuf.h>

struct rte_mempool;
struct rte_mbuf_ext_shared_info;

/* ethdev fast path (rte_ethdev.h, reached through rte_eth_fp_ops since 21.11) */
uint16_t fs_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
                             uint16_t nb_pkts);
uint16_t fs_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
                             uint16_t nb_pkts);
uint16_t fs_rte_eth_tx_prepare(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
                               uint16_t nb_pkts);

/* mbufs (rte_mbuf.h) */
struct rte_mbuf *fs_rte_pktmbuf_alloc(struct rte_mempool *mp);
int fs_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count);
void fs_rte_pktmbuf_free(struct rte_mbuf *m);
void fs_rte_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count);
char *fs_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *fs_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
int fs_rte_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail);
uint16_t fs_rte_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value);
uint16_t fs_rte_mbuf_refcnt_read(const struct rte_mbuf *m);
void fs_rte_pktmbuf_attach_extbuf(struct rte_mbuf *m, void *buf_addr, uint64_t buf_iova,
                                  uint16_t buf_len, struct rte_mbuf_ext_shared_info *shinfo);
uint16_t fs_rte_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t fs_rte_pktmbuf_tailroom(const struct rte_mbuf *m);
uint16_t fs_rte_pktmbuf_data_room_size(struct rte_mempool *mp);
uint64_t fs_rte_mbuf_data_iova(const struct rte_mbuf *m);

/* mempool (rte_mempool.h) */
unsigned fs_rte_mempool_cache_count(struct rte_mempool *mp, unsigned lcore_id);

/* EAL (rte_errno.h, rte_lcore.h) */
int fs_rte_errno(void);
unsigned fs_rte_lcore_id(void);

/* Toeplitz (rte_thash.h): the generic software RSS over host-order 32-bit words. */
uint32_t fs_rte_softrss(uint32_t *input_tuple, uint32_t input_len, const uint8_t *rss_key);
uint32_t fs_rte_softrss_v4(uint32_t src_addr, uint32_t dst_addr, uint16_t sport, uint16_t dport,
                           const uint8_t *rss_key);

#endif
