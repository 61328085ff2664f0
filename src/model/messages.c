/*
 * Ownership of the typed messages of ocpp_msg.h (model): what a parsed
 * request holds on the heap and how it is released. The wire layer fills
 * these, the core hands them on to store jobs, the store writes them; each
 * frees them with the same two functions.
 */
#include <stdlib.h>

#include "ocpp_msg.h"

void ocpp_meter_values_free(struct ocpp_meter_value *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < v[i].n_sampled; j++)
            free(v[i].sampled[j].value);
        free(v[i].sampled);
    }
    free(v);
}

void ocpp_req_free(enum ocpp_action a, union ocpp_req *req)
{
    switch (a) {
    case OCPP_ACTION_DATA_TRANSFER:
        free(req->data_transfer.data);
        req->data_transfer.data = NULL;
        break;
    case OCPP_ACTION_METER_VALUES:
        ocpp_meter_values_free(req->meter_values.values, req->meter_values.n_values);
        req->meter_values.values = NULL;
        req->meter_values.n_values = 0;
        break;
    case OCPP_ACTION_STOP_TRANSACTION:
        ocpp_meter_values_free(req->stop_tx.values, req->stop_tx.n_values);
        req->stop_tx.values = NULL;
        req->stop_tx.n_values = 0;
        break;
    case OCPP_ACTION_SIGN_CERTIFICATE:
        free(req->sign_certificate.csr);
        req->sign_certificate.csr = NULL;
        break;
    default:
        break; /* the other requests own nothing */
    }
}
